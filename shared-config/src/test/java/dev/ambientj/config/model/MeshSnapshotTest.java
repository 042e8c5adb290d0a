package dev.ambientj.config.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MeshSnapshotTest {
  static InetAddress ip(String s) {
    return InetAddress.ofLiteral(s);
  }

  static Workload workload(String name, String ip, boolean enrolled) {
    return new Workload(
        "uid-" + name,
        name,
        "ns",
        "sa",
        "cluster.local",
        "n1",
        List.of(ip(ip)),
        Map.of(),
        enrolled,
        enrolled ? TunnelProtocol.HBONE : TunnelProtocol.NONE,
        null,
        true,
        null,
        null,
        null);
  }

  @Test
  void qualifyFollowsKubernetesSearchPaths() {
    assertThat(MeshSnapshot.qualify("a", "ns")).isEqualTo("a.ns.svc.cluster.local");
    assertThat(MeshSnapshot.qualify("a.other", "ns")).isEqualTo("a.other.svc.cluster.local");
    assertThat(MeshSnapshot.qualify("a.other.svc", "ns")).isEqualTo("a.other.svc.cluster.local");
    assertThat(MeshSnapshot.qualify("A.Other.svc.cluster.local.", "ns"))
        .isEqualTo("a.other.svc.cluster.local");
    assertThat(MeshSnapshot.qualify("a", "")).isNull();
  }

  @Test
  void anEnrolledWorkloadWinsASharedAddress() {
    Workload hostNet = workload("host", "127.0.100.1", false);
    Workload pod = workload("pod", "127.0.100.1", true);
    MeshSnapshot s =
        MeshSnapshot.of(
            1,
            "cluster.local",
            List.of(hostNet, pod),
            List.of(),
            List.of(),
            List.of(),
            PolicyObjects.empty(),
            List.of());
    assertThat(s.findWorkloadByAddress(ip("127.0.100.1"))).contains(pod);
    assertThat(s.findWorkloadsOnNode("n1")).containsExactly(hostNet, pod);
  }

  @Test
  void emptySnapshot() {
    MeshSnapshot e = MeshSnapshot.empty();
    assertThat(e.version()).isZero();
    assertThat(e.trustDomain()).isEqualTo("cluster.local");
    assertThat(e.workloads()).isEmpty();
    assertThat(e.findServiceByHostname("a.b", "")).isEmpty();
  }

  @Test
  void collectionsAreImmutable() {
    Workload w = workload("a", "127.0.0.2", true);
    assertThat(w.labels()).isUnmodifiable();
    assertThat(w.addresses()).isUnmodifiable();
    assertThat(MeshSnapshot.empty().services()).isUnmodifiable();
  }

  @Test
  void rejectionLineFormat() {
    assertThat(
            new ConfigRejection(
                "VirtualService",
                "prod",
                "vs",
                "spec.http[0].route[1].weight",
                "-5 (expected 0..100)"))
        .hasToString("VirtualService prod/vs: spec.http[0].route[1].weight: -5 (expected 0..100)");
    assertThat(
            new ConfigRejection(
                "Node", "", "n", "status.addresses[0].address", "\"x\" is not an IP address"))
        .hasToString("Node n: status.addresses[0].address: \"x\" is not an IP address");
  }

  @Test
  void endpointTargetPortFallbacks() {
    Endpoint e = new Endpoint("u", Map.of(80, 9000));
    assertThat(e.targetPortFor(new ServicePort("http", 80, 0, null))).isEqualTo(9000);
    assertThat(e.targetPortFor(new ServicePort("x", 81, 8081, null))).isEqualTo(8081);
    assertThat(e.targetPortFor(new ServicePort("y", 82, 0, null))).isEqualTo(82);
  }

  @Test
  void waypointFor() {
    Waypoint svc = new Waypoint("w", "ns", "service", List.of(), "w", "cluster.local");
    Waypoint all = new Waypoint("w", "ns", "all", List.of(), "w", "cluster.local");
    Waypoint none = new Waypoint("w", "ns", "none", List.of(), "w", "cluster.local");
    assertThat(svc.servesServices()).isTrue();
    assertThat(svc.servesWorkloads()).isFalse();
    assertThat(all.servesServices() && all.servesWorkloads()).isTrue();
    assertThat(none.servesServices() || none.servesWorkloads()).isFalse();
  }
}
