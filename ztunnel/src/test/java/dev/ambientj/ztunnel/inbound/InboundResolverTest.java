package dev.ambientj.ztunnel.inbound;

import static dev.ambientj.ztunnel.ExampleMesh.ORDERS;
import static dev.ambientj.ztunnel.ExampleMesh.ip;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Workload;
import dev.ambientj.ztunnel.ExampleMesh;
import java.net.InetSocketAddress;
import java.util.List;
import org.junit.jupiter.api.Test;

/** validate_destination and the inbound upstream (ISTIO-FACTS §4) as a table. */
class InboundResolverTest {
  private final MeshSnapshot mesh = ExampleMesh.snapshot();

  private InboundDecision resolve(Workload local, String arrivedOn, String host, int port) {
    return InboundResolver.resolve(mesh, local, ip(arrivedOn), host, port);
  }

  @Test
  void authorityEqualToTheArrivalAddressIsAccepted() {
    assertThat(resolve(ORDERS, "127.0.2.10", "127.0.2.10", 8080)).isEqualTo(
        new InboundDecision.Accept(new InetSocketAddress(ip("127.0.2.10"), 8080), null));
  }

  @Test
  void authorityForAnotherAddressIsAnIpMismatch() {
    assertThat(resolve(ORDERS, "127.0.2.10", "127.0.2.20", 8080))
        .isInstanceOfSatisfying(InboundDecision.Refuse.class, r -> {
          assertThat(r.status()).isEqualTo(400);
          assertThat(r.reason()).isEqualTo("IPMismatch");
        });
  }

  @Test
  void serviceVipWithoutWaypointIsAnIpMismatch() {
    assertThat(resolve(ORDERS, "127.0.2.10", "127.10.0.10", 80))
        .isInstanceOfSatisfying(InboundDecision.Refuse.class,
            r -> assertThat(r.status()).isEqualTo(400));
  }

  @Test
  void serviceVipIsAcceptedByItsWaypoint() {
    Workload waypointEnrolled = ExampleMesh.workload("payment-waypoint-0", "production",
        "payment-waypoint", "node-a", "127.0.1.30", true, null, "w", null);
    MeshSnapshot s = ExampleMesh.snapshot(List.of(waypointEnrolled),
        List.of(ExampleMesh.PAYMENT_SVC));

    InboundDecision d = InboundResolver.resolve(s, waypointEnrolled, ip("127.0.1.30"),
        "127.10.0.20", 80);

    assertThat(d).isInstanceOfSatisfying(InboundDecision.Accept.class, a -> {
      assertThat(a.upstream()).isEqualTo(new InetSocketAddress(ip("127.0.1.30"), 80));
      assertThat(a.service()).isSameAs(ExampleMesh.PAYMENT_SVC);
    });
  }

  @Test
  void serviceVipWithAnotherWaypointIsAnIpMismatch() {
    assertThat(resolve(ORDERS, "127.0.2.10", "127.10.0.20", 80))
        .isInstanceOfSatisfying(InboundDecision.Refuse.class,
            r -> assertThat(r.status()).isEqualTo(400));
  }

  @Test
  void unknownLocalWorkloadIs503() {
    assertThat(resolve(null, "127.0.2.99", "127.0.2.99", 8080))
        .isInstanceOfSatisfying(InboundDecision.Refuse.class,
            r -> assertThat(r.status()).isEqualTo(503));
  }

  @Test
  void ztunnelsOwnPortsAreRefused() {
    for (int port : new int[] {15001, 15006, 15008, 15080}) {
      assertThat(resolve(ORDERS, "127.0.2.10", "127.0.2.10", port))
          .isInstanceOfSatisfying(InboundDecision.Refuse.class, r -> {
            assertThat(r.status()).isEqualTo(503);
            assertThat(r.reason()).isEqualTo("SelfCall");
          });
    }
  }

  @Test
  void hostnameAuthorityMapsTheServicePortToTheTargetPort() {
    assertThat(resolve(ORDERS, "127.0.2.10", "orders.production.svc.cluster.local", 80))
        .isEqualTo(new InboundDecision.Accept(new InetSocketAddress(ip("127.0.2.10"), 8080),
            ExampleMesh.ORDERS_SVC));
    assertThat(resolve(ORDERS, "127.0.2.10", "orders.production.svc.cluster.local", 81))
        .isInstanceOfSatisfying(InboundDecision.Refuse.class,
            r -> assertThat(r.status()).isEqualTo(503));
    assertThat(resolve(ORDERS, "127.0.2.10", "nope.production.svc.cluster.local", 80))
        .isInstanceOfSatisfying(InboundDecision.Refuse.class,
            r -> assertThat(r.status()).isEqualTo(503));
  }
}
