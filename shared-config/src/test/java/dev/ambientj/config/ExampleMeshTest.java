package dev.ambientj.config;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Service;
import dev.ambientj.config.model.WaypointRef;
import dev.ambientj.config.model.Workload;
import io.fabric8.kubernetes.api.model.HasMetadata;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The demo mesh of examples/ that the demo and the ztunnel tests rely on: names, addresses,
 * indexes.
 */
class ExampleMeshTest {
  static MeshSnapshot mesh;

  static InetAddress ip(String s) {
    return InetAddress.ofLiteral(s);
  }

  @BeforeAll
  static void load() throws Exception {
    List<HasMetadata> objects = new ArrayList<>();
    for (String f : List.of("mesh.yaml", "payment-policies.yaml")) {
      MeshYaml.Result r = MeshYaml.load(Repo.examples().resolve(f));
      assertThat(r.errors()).isEmpty();
      objects.addAll(r.objects());
    }
    mesh = new MeshTranslator().translate(objects);
    assertThat(mesh.rejections()).isEmpty();
  }

  @Test
  void nodes() {
    assertThat(mesh.findNode("node-a").orElseThrow().addresses())
        .containsExactly(ip("127.0.100.1"));
    assertThat(mesh.findNode("node-b").orElseThrow().addresses())
        .containsExactly(ip("127.0.100.2"));
    assertThat(mesh.findNode("node-c")).isEmpty();
  }

  @Test
  void workloadsByAddressUidAndNode() {
    Workload client = mesh.findWorkloadByAddress(ip("127.0.1.10")).orElseThrow();
    assertThat(client.name()).isEqualTo("api-gateway-0");
    assertThat(client.enrolled()).isTrue();
    assertThat(client.spiffeId()).isEqualTo("spiffe://cluster.local/ns/production/sa/api-gateway");
    assertThat(mesh.findWorkloadByUid(client.uid())).contains(client);
    assertThat(mesh.findWorkloadByAddress(ip("127.0.9.99"))).isEmpty();

    assertThat(mesh.findWorkloadsOnNode("node-a"))
        .extracting(Workload::name)
        .containsExactly("api-gateway-0", "payment-waypoint-0");
    assertThat(mesh.findWorkloadsOnNode("node-b"))
        .extracting(Workload::name)
        .containsExactly("orders-0", "payment-v1-0", "payment-v2-0", "legacy-web-0");
    assertThat(mesh.findWorkloadsOnNode("nowhere")).isEmpty();

    assertThat(mesh.findWorkloadByAddress(ip("127.0.2.50")).orElseThrow().enrolled())
        .as("legacy")
        .isFalse();
    assertThat(mesh.findWorkloadByAddress(ip("127.0.1.30")).orElseThrow().enrolled())
        .as("waypoint pod")
        .isFalse();
  }

  @Test
  void servicesByVipAndEveryHostnameForm() {
    Service payment = mesh.findServiceByVip(ip("127.10.0.20")).orElseThrow();
    assertThat(payment.name()).isEqualTo("payment-service");
    for (String host :
        List.of(
            "payment-service.production.svc.cluster.local",
            "payment-service.production.svc",
            "payment-service.production",
            "PAYMENT-SERVICE.production.svc.cluster.local.")) {
      assertThat(mesh.findServiceByHostname(host, "legacy")).as(host).contains(payment);
    }
    assertThat(mesh.findServiceByHostname("payment-service", "production")).contains(payment);
    assertThat(mesh.findServiceByHostname("payment-service", "legacy")).isEmpty();
    assertThat(mesh.findServiceByHostname("legacy-web", "legacy")).isPresent();
    assertThat(mesh.findServiceByHostname("example.com", "production")).isEmpty();
    assertThat(mesh.findServiceByVip(ip("127.10.0.99"))).isEmpty();
  }

  @Test
  void paymentIsBehindItsWaypoint() {
    Service payment = mesh.findServiceByVip(ip("127.10.0.20")).orElseThrow();
    assertThat(payment.waypoint()).isEqualTo(new WaypointRef("production", "payment-waypoint"));
    var wp = mesh.findWaypoint(payment.waypoint()).orElseThrow();
    assertThat(wp.addresses()).containsExactly(ip("127.0.1.30"));
    assertThat(wp.spiffeId()).isEqualTo("spiffe://cluster.local/ns/production/sa/payment-waypoint");
    assertThat(payment.endpoints())
        .extracting(e -> mesh.findWorkloadByUid(e.workloadUid()).orElseThrow().name())
        .containsExactly("payment-v1-0", "payment-v2-0");
    assertThat(payment.endpoints().get(0).targetPortFor(payment.findPort(80).orElseThrow()))
        .isEqualTo(8080);
    assertThat(mesh.findServicesOfWorkload(payment.endpoints().get(0).workloadUid()))
        .containsExactly(payment);
    assertThat(mesh.findWorkloadByAddress(ip("127.0.2.20")).orElseThrow().waypoint())
        .as("waypoint-for service: pods are not bound")
        .isNull();
  }

  @Test
  void ordersUsesANamedTargetPort() {
    Service orders = mesh.findServiceByHostname("orders", "production").orElseThrow();
    var port = orders.findPort(80).orElseThrow();
    assertThat(port.targetPort()).isZero();
    assertThat(orders.endpoints())
        .singleElement()
        .satisfies(e -> assertThat(e.targetPortFor(port)).isEqualTo(8080));
    assertThat(orders.waypoint()).isNull();
  }

  @Test
  void policies() {
    var p = mesh.policies();
    assertThat(p.virtualServices()).hasSize(1);
    assertThat(p.destinationRules()).hasSize(1);
    assertThat(p.peerAuthentications()).hasSize(1);
    assertThat(p.authorizationPolicies()).hasSize(1);
    assertThat(p.localRateLimits()).hasSize(1);
    assertThat(p.notApplicable()).isEmpty();
  }
}
