package dev.ambientj.config.model;

import io.fabric8.istio.api.networking.v1.DestinationRule;
import io.fabric8.istio.api.networking.v1.VirtualService;
import io.fabric8.istio.api.security.v1.AuthorizationPolicy;
import io.fabric8.istio.api.security.v1.PeerAuthentication;
import io.fabric8.istio.api.telemetry.v1.Telemetry;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute;
import java.util.List;

/**
 * The policy objects of a snapshot in typed form; later stages give them semantics.
 *
 * <p>Every apiVersion is normalised to the newest one (networking.istio.io v1beta1 and v1alpha3 to
 * v1, security.istio.io v1beta1 to v1, gateway.networking.k8s.io v1beta1/v1alpha2 to v1); the spec
 * classes are the same across versions, so nothing is lost.
 *
 * <p><b>The Fabric8 objects are mutable Java beans but belong to an immutable snapshot: treat them
 * as read-only.</b> Mutating one would change what every reader of the snapshot sees without a
 * publish.
 *
 * <p>Telemetry resources are kept for their {@code tracing} ({@code
 * dev.ambientj.config.TelemetryTracing}); metrics and access-log settings in them are not read.
 *
 * <p>Only objects that passed validation are here; rejected ones are in {@link
 * MeshSnapshot#rejections()}.
 */
public record PolicyObjects(
    List<VirtualService> virtualServices,
    List<DestinationRule> destinationRules,
    List<AuthorizationPolicy> authorizationPolicies,
    List<PeerAuthentication> peerAuthentications,
    List<HTTPRoute> httpRoutes,
    List<GRPCRoute> grpcRoutes,
    List<LocalRateLimit> localRateLimits,
    List<NotApplicable> notApplicable,
    List<Telemetry> telemetries) {

  private static final PolicyObjects EMPTY =
      new PolicyObjects(
          List.of(), List.of(), List.of(), List.of(), List.of(), List.of(), List.of(), List.of(),
          List.of());

  public PolicyObjects {
    virtualServices = List.copyOf(virtualServices);
    destinationRules = List.copyOf(destinationRules);
    authorizationPolicies = List.copyOf(authorizationPolicies);
    peerAuthentications = List.copyOf(peerAuthentications);
    httpRoutes = List.copyOf(httpRoutes);
    grpcRoutes = List.copyOf(grpcRoutes);
    localRateLimits = List.copyOf(localRateLimits);
    notApplicable = List.copyOf(notApplicable);
    telemetries = List.copyOf(telemetries);
  }

  public static PolicyObjects empty() {
    return EMPTY;
  }
}
