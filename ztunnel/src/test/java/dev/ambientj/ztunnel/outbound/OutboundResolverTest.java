package dev.ambientj.ztunnel.outbound;

import static dev.ambientj.ztunnel.ExampleMesh.API_GATEWAY;
import static dev.ambientj.ztunnel.ExampleMesh.ORDERS;
import static dev.ambientj.ztunnel.ExampleMesh.ip;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.MeshTranslator;
import dev.ambientj.config.MeshYaml;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Workload;
import dev.ambientj.ztunnel.ExampleMesh;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The outbound decision table of ISTIO-FACTS §3 on the example mesh. */
class OutboundResolverTest {
  private final MeshSnapshot mesh = ExampleMesh.snapshot();
  private final OutboundResolver resolver = new OutboundResolver(new Random(7));

  private OutboundRoute resolve(String ip, int port) {
    return resolver.resolve(mesh, API_GATEWAY, new InetSocketAddress(ip(ip), port));
  }

  @Test
  void serviceVipGoesOverHboneToAnEndpointWithTheTargetPort() {
    OutboundRoute route = resolve("127.10.0.10", 80);

    assertThat(route).isInstanceOf(OutboundRoute.Hbone.class);
    OutboundRoute.Hbone h = (OutboundRoute.Hbone) route;
    assertThat(h.nextHop()).isEqualTo(new InetSocketAddress(ip("127.0.2.10"), 15008));
    assertThat(h.authority()).isEqualTo("127.0.2.10:8080");
    assertThat(h.expectedIdentity()).isEqualTo("spiffe://cluster.local/ns/production/sa/orders");
    assertThat(h.destination()).isSameAs(ORDERS);
    assertThat(h.service()).isSameAs(ExampleMesh.ORDERS_SVC);
    assertThat(h.waypoint()).isNull();
  }

  @Test
  void serviceWithAWaypointGoesToTheWaypointWithTheOriginalVipAsAuthority() {
    OutboundRoute route = resolve("127.10.0.20", 80);

    assertThat(route).isInstanceOf(OutboundRoute.Hbone.class);
    OutboundRoute.Hbone h = (OutboundRoute.Hbone) route;
    assertThat(h.nextHop()).isEqualTo(new InetSocketAddress(ip("127.0.1.30"), 15008));
    assertThat(h.authority()).isEqualTo("127.10.0.20:80");
    assertThat(h.expectedIdentity())
        .isEqualTo("spiffe://cluster.local/ns/production/sa/payment-waypoint");
    assertThat(h.waypoint()).isSameAs(ExampleMesh.PAYMENT_WAYPOINT);
    assertThat(h.service()).isSameAs(ExampleMesh.PAYMENT_SVC);
    assertThat(h.destination()).isSameAs(ExampleMesh.WAYPOINT_POD);
  }

  @Test
  void theExampleYamlRoutesPaymentServiceToItsWaypoint() throws Exception {
    Path yaml = Path.of("..", "examples", "mesh.yaml");
    MeshYaml.Result parsed = MeshYaml.load(Files.readString(yaml), yaml.toString());
    MeshSnapshot example = new MeshTranslator().translate(parsed.objects());
    Workload gateway = example.workloads().stream()
        .filter(w -> w.name().equals("api-gateway-0")).findFirst().orElseThrow();

    OutboundRoute route = resolver.resolve(example, gateway,
        new InetSocketAddress(ip("127.10.0.20"), 80));

    assertThat(route).isInstanceOfSatisfying(OutboundRoute.Hbone.class, h -> {
      assertThat(h.nextHop()).isEqualTo(new InetSocketAddress(ip("127.0.1.30"), 15008));
      assertThat(h.authority()).isEqualTo("127.10.0.20:80");
      assertThat(h.expectedIdentity())
          .isEqualTo("spiffe://cluster.local/ns/production/sa/payment-waypoint");
    });
    assertThat(resolver.resolve(example, gateway, new InetSocketAddress(ip("127.10.0.10"), 80)))
        .isInstanceOfSatisfying(OutboundRoute.Hbone.class,
            h -> assertThat(h.authority()).isEqualTo("127.0.2.10:8080"));
  }

  @Test
  void theWaypointItselfReachesTheServiceEndpointsDirectly() {
    Workload waypointAsSource = ExampleMesh.WAYPOINT_POD;
    OutboundRoute route = resolver.resolve(mesh, waypointAsSource,
        new InetSocketAddress(ip("127.10.0.20"), 80));

    assertThat(route).isInstanceOf(OutboundRoute.Hbone.class);
    assertThat(((OutboundRoute.Hbone) route).authority()).endsWith(":8080");
    assertThat(((OutboundRoute.Hbone) route).waypoint()).isNull();
  }

  @Test
  void endpointsAreLoadBalancedAcrossHealthyWorkloads() {
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < 50; i++) {
      OutboundRoute.Hbone h = (OutboundRoute.Hbone) resolver.resolve(mesh, ExampleMesh.WAYPOINT_POD,
          new InetSocketAddress(ip("127.10.0.20"), 80));
      seen.add(h.authority());
    }
    assertThat(seen).containsExactlyInAnyOrder("127.0.2.20:8080", "127.0.2.21:8080");
  }

  @Test
  void unhealthyEndpointsAreSkipped() {
    MeshSnapshot s = ExampleMesh.snapshot(
        List.of(API_GATEWAY, ExampleMesh.unhealthy(ORDERS)), List.of(ExampleMesh.ORDERS_SVC));

    OutboundRoute route = resolver.resolve(s, API_GATEWAY, new InetSocketAddress(ip("127.10.0.10"), 80));

    assertThat(route).isInstanceOfSatisfying(OutboundRoute.Refused.class,
        r -> assertThat(r.reason()).isEqualTo("NoHealthyUpstream"));
  }

  @Test
  void aServicePortThatDoesNotExistIsNoHealthyUpstream() {
    assertThat(resolve("127.10.0.10", 81)).isInstanceOfSatisfying(OutboundRoute.Refused.class,
        r -> assertThat(r.reason()).isEqualTo("NoHealthyUpstream"));
  }

  @Test
  void workloadIpKeepsThePort() {
    OutboundRoute route = resolve("127.0.2.10", 8080);

    assertThat(route).isInstanceOfSatisfying(OutboundRoute.Hbone.class, h -> {
      assertThat(h.nextHop()).isEqualTo(new InetSocketAddress(ip("127.0.2.10"), 15008));
      assertThat(h.authority()).isEqualTo("127.0.2.10:8080");
      assertThat(h.service()).isNull();
    });
  }

  @Test
  void workloadWithAWorkloadWaypointGoesThroughIt() {
    Workload orders = ExampleMesh.withWaypoint(ORDERS, ExampleMesh.PAYMENT_WAYPOINT_REF);
    MeshSnapshot s = ExampleMesh.snapshot(List.of(API_GATEWAY, orders, ExampleMesh.WAYPOINT_POD),
        List.of());

    OutboundRoute route = resolver.resolve(s, API_GATEWAY, new InetSocketAddress(ip("127.0.2.10"), 8080));

    assertThat(route).isInstanceOfSatisfying(OutboundRoute.Hbone.class, h -> {
      assertThat(h.nextHop()).isEqualTo(new InetSocketAddress(ip("127.0.1.30"), 15008));
      assertThat(h.authority()).isEqualTo("127.0.2.10:8080");
    });
  }

  @Test
  void unenrolledDestinationServiceIsPlainTcpToThePodTargetPort() {
    OutboundRoute route = resolve("127.10.0.50", 80);

    assertThat(route).isInstanceOfSatisfying(OutboundRoute.PlainTcp.class, t -> {
      assertThat(t.target()).isEqualTo(new InetSocketAddress(ip("127.0.2.50"), 8080));
      assertThat(t.destination()).isSameAs(ExampleMesh.LEGACY);
      assertThat(t.service()).isSameAs(ExampleMesh.LEGACY_SVC);
    });
  }

  @Test
  void addressOutsideTheMeshIsPassthrough() {
    assertThat(resolve("127.0.9.9", 7000)).isEqualTo(
        new OutboundRoute.Passthrough(new InetSocketAddress(ip("127.0.9.9"), 7000)));
  }

  @Test
  void callsToZtunnelsOwnPortsAreSelfCalls() {
    for (int port : new int[] {15001, 15006, 15008, 15080}) {
      assertThat(resolve("127.0.1.10", port)).as("own pod :%d", port)
          .isInstanceOfSatisfying(OutboundRoute.Refused.class,
              r -> assertThat(r.reason()).isEqualTo("SelfCall"));
      assertThat(resolve("127.0.0.1", port)).as("localhost :%d", port)
          .isInstanceOf(OutboundRoute.Refused.class);
      assertThat(resolve("127.0.2.10", port)).as("another enrolled pod :%d", port)
          .isInstanceOf(OutboundRoute.Refused.class);
    }
    assertThat(resolve("127.0.1.10", 8080)).isNotInstanceOf(OutboundRoute.Refused.class);
  }

  @Test
  void hostnamesResolveFromTheMesh() {
    assertThat(OutboundResolver.resolveHostname(mesh, "orders.production.svc.cluster.local",
        "production")).contains(ip("127.10.0.10"));
    assertThat(OutboundResolver.resolveHostname(mesh, "orders", "production"))
        .contains(ip("127.10.0.10"));
    assertThat(OutboundResolver.resolveHostname(mesh, "legacy-web.legacy", "production"))
        .contains(ip("127.10.0.50"));
    assertThat(OutboundResolver.resolveHostname(mesh, "127.0.2.10", "production"))
        .contains(ip("127.0.2.10"));
    assertThat(OutboundResolver.resolveHostname(mesh, "nope.production.svc.cluster.local",
        "production")).isEmpty();
    assertThat(OutboundResolver.resolveHostname(mesh, "legacy-web", "production")).isEmpty();
  }
}
