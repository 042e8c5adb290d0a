package dev.ambientj.config.analyze;

import static dev.ambientj.config.analyze.AnalyzeCommandTest.analyze;
import static dev.ambientj.config.analyze.AnalyzeCommandTest.examples;
import static dev.ambientj.config.analyze.AnalyzeCommandTest.seeds;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.analyze.AnalyzeCommandTest.Run;
import org.junit.jupiter.api.Test;

/**
 * What {@code mesh analyze} says of the configuration the project's users showed as theirs
 * ({@code shared/seed-examples/}), alone and around the demo mesh's pods and services: every line.
 */
class SeedExamplesAnalyzeTest {
  private static final String IST0109 = "Warning [IST0109] VirtualService"
      + " production/payment-fault-test: spec.hosts[0]: host payment-service is also routed by"
      + " VirtualService production/payment-service; only one VirtualService per host applies"
      + " (expected one VirtualService per host: merge their routes)";

  @Test
  void paymentAloneNamesEveryReferenceTheFilesDoNotHold() {
    Run r = analyze(seeds().resolve("payment.yaml").toString());
    assertThat(r.lines()).containsExactly(
        "Warning [IST0101] DestinationRule production/payment-service: spec.host: host"
            + " payment-service matches no Service; the DestinationRule has no effect",
        "Error [IST0101] VirtualService production/payment-service: spec.hosts[0]: host"
            + " payment-service matches no Service (expected name, name.namespace or"
            + " name.namespace.svc.cluster.local)",
        IST0109,
        "Error [IST0101] VirtualService production/payment-fault-test: spec.hosts[0]: host"
            + " payment-service matches no Service (expected name, name.namespace or"
            + " name.namespace.svc.cluster.local)",
        "Warning [IST0127] AuthorizationPolicy production/payment-access: spec.selector: matches"
            + " no workload in namespace production (labels {app=payment-service}); the policy"
            + " has no effect",
        "Warning [AMB0109] EnvoyFilter production/payment-ratelimit: spec.workloadSelector:"
            + " matches no workload in namespace production (labels {app=payment-service}); the"
            + " rate limit has no effect");
    assertThat(r.exit()).isEqualTo(1);
  }

  @Test
  void paymentAroundTheDemoMeshShowsThePolicyTheWaypointBypasses() {
    Run r = analyze(examples().resolve("mesh.yaml").toString(),
        seeds().resolve("payment.yaml").toString());
    assertThat(r.lines()).containsExactly(
        IST0109,
        "Warning [AMB0107] AuthorizationPolicy production/payment-access: spec.selector: selects"
            + " payment-v1-0, reached through waypoint production/payment-waypoint for Service"
            + " payment-service: ztunnel sees the waypoint's identity, so the allowed sources are"
            + " denied on that path (expected targetRefs: [{kind: Service, group: \"\", name:"
            + " payment-service}] so the waypoint enforces it)");
    assertThat(r.exit()).isEqualTo(1);
  }

  @Test
  void ambientIsClean() {
    Run r = analyze(seeds().resolve("ambient.yaml").toString());
    assertThat(r.lines()).isEmpty();
    assertThat(r.exit()).isZero();
  }

  @Test
  void sidecarAndIngressSayWhatAmbientDoesNotApply() {
    Run r = analyze(seeds().resolve("sidecar-and-ingress.yaml").toString());
    assertThat(r.lines()).containsExactly(
        "Info [AMB0105] Sidecar production/api-service: not applicable to ambient mode: there is"
            + " no sidecar proxy to scope; ztunnel and waypoints do not read Sidecar resources",
        "Info [AMB0105] Gateway istio-system/main-gateway: not applicable to ambient mode: an"
            + " Istio ingress/egress Gateway configures gateway deployments, not the ambient data"
            + " plane; it is not a waypoint (a waypoint is a gateway.networking.k8s.io Gateway of"
            + " class istio-waypoint)");
    assertThat(r.exit()).as("Info only").isZero();
  }

  @Test
  void allThreeWithTheDemoMeshReportTheWaypointDefinedTwice() {
    // ambient.yaml declares payment-waypoint as the demo mesh does: the later file's applies.
    Run r = analyze(examples().resolve("mesh.yaml").toString(), seeds().toString());
    assertThat(r.lines()).startsWith(
        "Warning [AMB0001] Gateway production/payment-waypoint: metadata.name: defined again"
            + " later; the later definition applies");
    assertThat(r.lines()).hasSize(5).contains(IST0109);
  }
}
