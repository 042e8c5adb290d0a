package dev.ambientj.ztunnel.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.ztunnel.ExampleMesh;
import dev.ambientj.ztunnel.telemetry.PeerLabels;
import org.junit.jupiter.api.Test;

class BaggageTest {

  @Test
  void roundTripsTheSourceLabels() {
    String baggage = Baggage.of(ExampleMesh.API_GATEWAY, "Kubernetes");
    assertThat(baggage).isEqualTo("k8s.cluster.name=Kubernetes,k8s.namespace.name=production,"
        + "k8s.pod.name=api-gateway-0,service.name=api-gateway,service.version=v1");

    PeerLabels labels = Baggage.parse(baggage, "spiffe://cluster.local/ns/production/sa/api-gateway");
    assertThat(labels.workload()).isEqualTo("api-gateway-0");
    assertThat(labels.namespace()).isEqualTo("production");
    assertThat(labels.principal()).isEqualTo("spiffe://cluster.local/ns/production/sa/api-gateway");
  }

  @Test
  void missingBaggageKeepsTheIdentity() {
    PeerLabels labels = Baggage.parse(null, "spiffe://td/ns/a/sa/b");
    assertThat(labels.principal()).isEqualTo("spiffe://td/ns/a/sa/b");
    assertThat(labels.workload()).isEqualTo("unknown");
  }
}
