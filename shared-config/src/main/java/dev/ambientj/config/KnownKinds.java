package dev.ambientj.config;

import io.fabric8.kubernetes.api.model.HasMetadata;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The kinds ambientj reads, by {@code apiVersion} and {@code kind}, with the Fabric8 class each
 * version parses into. EnvoyFilter has no class here on purpose: it is read from its tree, because
 * only one shape of it is accepted and Fabric8's model of its oneof fields is lossy.
 */
final class KnownKinds {
  static final String NETWORKING = "networking.istio.io";
  static final String SECURITY = "security.istio.io";
  static final String GATEWAY_API = "gateway.networking.k8s.io";
  static final String TELEMETRY = "telemetry.istio.io";

  /** kind → (apiVersion → class). */
  private static final Map<String, Map<String, Class<? extends HasMetadata>>> TYPES =
      new LinkedHashMap<>();

  /** kind → the apiVersions accepted, for kinds read from the tree (no class). */
  private static final Map<String, List<String>> TREE_KINDS =
      Map.of("EnvoyFilter", List.of(NETWORKING + "/v1alpha3"));

  static {
    add("Namespace", "v1", io.fabric8.kubernetes.api.model.Namespace.class);
    add("Node", "v1", io.fabric8.kubernetes.api.model.Node.class);
    add("Pod", "v1", io.fabric8.kubernetes.api.model.Pod.class);
    add("Service", "v1", io.fabric8.kubernetes.api.model.Service.class);
    add("ServiceAccount", "v1", io.fabric8.kubernetes.api.model.ServiceAccount.class);

    add(
        "VirtualService",
        NETWORKING + "/v1",
        io.fabric8.istio.api.networking.v1.VirtualService.class);
    add(
        "VirtualService",
        NETWORKING + "/v1beta1",
        io.fabric8.istio.api.networking.v1beta1.VirtualService.class);
    add(
        "VirtualService",
        NETWORKING + "/v1alpha3",
        io.fabric8.istio.api.networking.v1alpha3.VirtualService.class);
    add(
        "DestinationRule",
        NETWORKING + "/v1",
        io.fabric8.istio.api.networking.v1.DestinationRule.class);
    add(
        "DestinationRule",
        NETWORKING + "/v1beta1",
        io.fabric8.istio.api.networking.v1beta1.DestinationRule.class);
    add(
        "DestinationRule",
        NETWORKING + "/v1alpha3",
        io.fabric8.istio.api.networking.v1alpha3.DestinationRule.class);
    add("Sidecar", NETWORKING + "/v1", io.fabric8.istio.api.networking.v1.Sidecar.class);
    add("Sidecar", NETWORKING + "/v1beta1", io.fabric8.istio.api.networking.v1beta1.Sidecar.class);
    add(
        "Sidecar",
        NETWORKING + "/v1alpha3",
        io.fabric8.istio.api.networking.v1alpha3.Sidecar.class);
    add(
        "AuthorizationPolicy",
        SECURITY + "/v1",
        io.fabric8.istio.api.security.v1.AuthorizationPolicy.class);
    add(
        "AuthorizationPolicy",
        SECURITY + "/v1beta1",
        io.fabric8.istio.api.security.v1beta1.AuthorizationPolicy.class);
    add(
        "PeerAuthentication",
        SECURITY + "/v1",
        io.fabric8.istio.api.security.v1.PeerAuthentication.class);
    add(
        "PeerAuthentication",
        SECURITY + "/v1beta1",
        io.fabric8.istio.api.security.v1beta1.PeerAuthentication.class);

    add("Telemetry", TELEMETRY + "/v1", io.fabric8.istio.api.telemetry.v1.Telemetry.class);
    add("Telemetry", TELEMETRY + "/v1alpha1", io.fabric8.istio.api.telemetry.v1alpha1.Telemetry.class);

    add(
        "HTTPRoute",
        GATEWAY_API + "/v1",
        io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute.class);
    add(
        "HTTPRoute",
        GATEWAY_API + "/v1beta1",
        io.fabric8.kubernetes.api.model.gatewayapi.v1beta1.HTTPRoute.class);
    add(
        "GRPCRoute",
        GATEWAY_API + "/v1",
        io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute.class);
    add(
        "GRPCRoute",
        GATEWAY_API + "/v1alpha2",
        io.fabric8.kubernetes.api.model.gatewayapi.v1alpha2.GRPCRoute.class);
    add(
        "GatewayClass",
        GATEWAY_API + "/v1",
        io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayClass.class);
    add(
        "GatewayClass",
        GATEWAY_API + "/v1beta1",
        io.fabric8.kubernetes.api.model.gatewayapi.v1beta1.GatewayClass.class);
    // "Gateway" is two kinds: Istio's ingress Gateway and the Gateway API's (waypoints).
    add(
        "Gateway",
        GATEWAY_API + "/v1",
        io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway.class);
    add(
        "Gateway",
        GATEWAY_API + "/v1beta1",
        io.fabric8.kubernetes.api.model.gatewayapi.v1beta1.Gateway.class);
    add("Gateway", NETWORKING + "/v1", io.fabric8.istio.api.networking.v1.Gateway.class);
    add("Gateway", NETWORKING + "/v1beta1", io.fabric8.istio.api.networking.v1beta1.Gateway.class);
    add(
        "Gateway",
        NETWORKING + "/v1alpha3",
        io.fabric8.istio.api.networking.v1alpha3.Gateway.class);
  }

  private KnownKinds() {}

  private static void add(String kind, String apiVersion, Class<? extends HasMetadata> type) {
    TYPES.computeIfAbsent(kind, k -> new LinkedHashMap<>()).put(apiVersion, type);
  }

  /**
   * The class for this apiVersion and kind, or null (unknown kind, unknown version, or a tree
   * kind).
   */
  static Class<? extends HasMetadata> typeOf(String apiVersion, String kind) {
    Map<String, Class<? extends HasMetadata>> versions = TYPES.get(kind);
    return versions == null ? null : versions.get(apiVersion);
  }

  static boolean isKnownKind(String kind) {
    return TYPES.containsKey(kind) || TREE_KINDS.containsKey(kind);
  }

  static boolean isTreeKind(String apiVersion, String kind) {
    List<String> versions = TREE_KINDS.get(kind);
    return versions != null && versions.contains(apiVersion);
  }

  /** The accepted apiVersions of a known kind, for messages: {@code networking.istio.io/v1, …}. */
  static List<String> versionsOf(String kind) {
    if (TREE_KINDS.containsKey(kind)) {
      return TREE_KINDS.get(kind);
    }
    Map<String, Class<? extends HasMetadata>> versions = TYPES.get(kind);
    return versions == null ? List.of() : List.copyOf(versions.keySet());
  }

  static Set<String> kinds() {
    Set<String> all = new java.util.LinkedHashSet<>(TYPES.keySet());
    all.addAll(TREE_KINDS.keySet());
    return all;
  }
}
