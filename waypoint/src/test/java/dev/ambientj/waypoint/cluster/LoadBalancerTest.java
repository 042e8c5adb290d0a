package dev.ambientj.waypoint.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.model.MeshSnapshot;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class LoadBalancerTest {
  static List<UpstreamHost> hosts(int n) {
    MeshSnapshot s = ClusterFixtures.snapshot(n);
    return ClusterFixtures.cluster(new ClusterManager(), s, ClusterPolicy.DEFAULT).hosts();
  }

  @Test
  void roundRobinRotates() {
    List<UpstreamHost> h = hosts(3);
    LoadBalancer lb = LoadBalancer.of(LbPolicy.ROUND_ROBIN);
    Random r = new Random(1);
    assertThat(List.of(lb.pick(h, r), lb.pick(h, r), lb.pick(h, r), lb.pick(h, r)))
        .containsExactly(h.get(0), h.get(1), h.get(2), h.get(0));
  }

  @Test
  void randomIsUniform() {
    List<UpstreamHost> h = hosts(4);
    LoadBalancer lb = LoadBalancer.of(LbPolicy.RANDOM);
    Random r = new Random(3);
    Map<UpstreamHost, Integer> counts = new HashMap<>();
    for (int i = 0; i < 40_000; i++) {
      counts.merge(lb.pick(h, r), 1, Integer::sum);
    }
    assertThat(counts.values()).allSatisfy(c -> assertThat(c).isBetween(9_500, 10_500));
  }

  @Test
  void leastRequestAvoidsTheBusyHost() {
    List<UpstreamHost> h = hosts(2);
    for (int i = 0; i < 10; i++) {
      h.get(0).requestStarted();
    }
    LoadBalancer lb = LoadBalancer.of(LbPolicy.LEAST_REQUEST);
    Random r = new Random(5);
    int busy = 0;
    for (int i = 0; i < 1000; i++) {
      if (lb.pick(h, r) == h.get(0)) {
        busy++;
      }
    }
    assertThat(busy).as("only when both choices are the busy host: ~25%").isBetween(180, 320);
  }

  @Test
  void subsetNarrowsHostsByLabels() {
    MeshSnapshot s = ClusterFixtures.snapshot(3);
    var svc = s.services().get(0);
    Cluster v2 = new ClusterManager().build(s, svc, svc.ports().get(0), "v2", Map.of("version", "v2"), ClusterPolicy.DEFAULT);
    assertThat(v2.hosts()).extracting(x -> x.workload().name()).containsExactly("svc-2");
    assertThat(v2.hosts().get(0).authority()).isEqualTo("127.98.2.2:8080");
  }
}
