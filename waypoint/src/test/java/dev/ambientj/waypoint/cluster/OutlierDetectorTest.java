package dev.ambientj.waypoint.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.model.MeshSnapshot;
import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Outlier ejection with a fake clock (nanoseconds as a plain long). */
class OutlierDetectorTest {
  static final long S = 1_000_000_000L;

  @Test
  void fiveConsecutive5xxEjectForBaseTimesCountCappedAt300s() {
    MeshSnapshot s = ClusterFixtures.snapshot(2);
    Cluster c = ClusterFixtures.cluster(new ClusterManager(), s,
        ClusterFixtures.outlier(5, 0, Duration.ofSeconds(30), 50, 0));
    UpstreamHost bad = c.hosts().get(0);
    long now = 100 * S;
    for (int i = 0; i < 4; i++) {
      assertThat(c.recordOutcome(bad, 503, false, now)).isFalse();
    }
    assertThat(c.recordOutcome(bad, 500, false, now)).as("5th consecutive 5xx ejects").isTrue();
    assertThat(c.availableHosts(now)).doesNotContain(bad).hasSize(1);
    assertThat(c.availableHosts(now + 29 * S)).doesNotContain(bad);
    assertThat(c.availableHosts(now + 30 * S)).as("back after baseEjectionTime").contains(bad);

    now += 31 * S;
    for (int i = 0; i < 5; i++) {
      c.recordOutcome(bad, 503, true, now);
    }
    assertThat(c.availableHosts(now + 59 * S)).as("second ejection lasts 2 x 30 s").doesNotContain(bad);
    assertThat(c.availableHosts(now + 60 * S)).contains(bad);

    long last = 60;
    for (int k = 3; k <= 12; k++) {
      now += last * S; // fails again the moment it is back: no quiet interval, no decay
      for (int i = 0; i < 5; i++) {
        c.recordOutcome(bad, 503, false, now);
      }
      last = Math.min(30L * k, 300);
      assertThat(c.availableHosts(now + (last - 1) * S)).doesNotContain(bad);
    }
    assertThat(last).isEqualTo(300);
    assertThat(c.availableHosts(now + 299 * S)).as("capped at 300 s").doesNotContain(bad);
    assertThat(c.availableHosts(now + 300 * S)).contains(bad);
  }

  @Test
  void theMultiplierDecaysWhileTheHostStaysHealthy() {
    MeshSnapshot s = ClusterFixtures.snapshot(2);
    Cluster c = ClusterFixtures.cluster(new ClusterManager(), s, ClusterFixtures.outlier(1, 0, Duration.ofSeconds(30), 50, 0));
    UpstreamHost h = c.hosts().get(0);
    c.recordOutcome(h, 500, false, 0);
    c.recordOutcome(h, 500, false, 30 * S);
    assertThat(c.availableHosts(30 * S + 59 * S)).doesNotContain(h);
    long back = 90 * S;
    c.recordOutcome(h, 500, false, back + 1000 * S);
    assertThat(c.availableHosts(back + 1000 * S + 31 * S)).as("a long healthy spell resets the multiplier").contains(h);
  }

  @Test
  void successResetsTheCount() {
    MeshSnapshot s = ClusterFixtures.snapshot(2);
    Cluster c = ClusterFixtures.cluster(new ClusterManager(), s, ClusterFixtures.outlier(5, 0, Duration.ofSeconds(30), 50, 0));
    UpstreamHost h = c.hosts().get(0);
    for (int round = 0; round < 10; round++) {
      for (int i = 0; i < 4; i++) {
        c.recordOutcome(h, 503, false, 0);
      }
      c.recordOutcome(h, 200, false, 0);
    }
    assertThat(c.availableHosts(0)).contains(h);
  }

  @Test
  void gatewayErrorsCountOnly502To504AndLocalFailures() {
    MeshSnapshot s = ClusterFixtures.snapshot(2);
    Cluster c = ClusterFixtures.cluster(new ClusterManager(), s, ClusterFixtures.outlier(0, 3, Duration.ofSeconds(10), 50, 0));
    UpstreamHost h = c.hosts().get(0);
    c.recordOutcome(h, 502, false, 0);
    c.recordOutcome(h, 500, false, 0);
    c.recordOutcome(h, 504, false, 0);
    c.recordOutcome(h, 503, true, 0);
    assertThat(c.availableHosts(0)).as("a 500 breaks the gateway-error streak").contains(h);
    assertThat(c.recordOutcome(h, 503, false, 0)).isTrue();
  }

  @Test
  void maxEjectionPercentLimitsEjectionsButOneIsAlwaysAllowed() {
    MeshSnapshot s = ClusterFixtures.snapshot(4);
    Cluster c = ClusterFixtures.cluster(new ClusterManager(), s, ClusterFixtures.outlier(1, 0, Duration.ofSeconds(30), 50, 0));
    assertThat(c.recordOutcome(c.hosts().get(0), 500, false, 0)).isTrue();
    assertThat(c.recordOutcome(c.hosts().get(1), 500, false, 0)).isTrue();
    assertThat(c.recordOutcome(c.hosts().get(2), 500, false, 0)).as("50% already ejected").isFalse();
    assertThat(c.availableHosts(0)).hasSize(2);

    MeshSnapshot one = ClusterFixtures.snapshot(1);
    Cluster single = ClusterFixtures.cluster(new ClusterManager(), one,
        ClusterFixtures.outlier(1, 0, Duration.ofSeconds(30), 10, 0));
    assertThat(single.recordOutcome(single.hosts().get(0), 500, false, 0))
        .as("the first ejection is always allowed, whatever maxEjectionPercent").isTrue();
    assertThat(single.pick(0, new Random(1))).as("no healthy upstream").isNull();
  }

  @Test
  void minHealthPercentTurnsEjectionOff() {
    MeshSnapshot s = ClusterFixtures.snapshot(2);
    Cluster c = ClusterFixtures.cluster(new ClusterManager(), s, ClusterFixtures.outlier(1, 0, Duration.ofSeconds(30), 100, 60));
    c.recordOutcome(c.hosts().get(0), 500, false, 0);
    assertThat(c.isEjected(c.hosts().get(0), 0)).isTrue();
    assertThat(c.availableHosts(0)).as("50% healthy < 60%: panic, use all").hasSize(2);
  }

  @Test
  void ejectionSurvivesANewSnapshot() {
    ClusterManager m = new ClusterManager();
    MeshSnapshot s = ClusterFixtures.snapshot(2);
    ClusterPolicy p = ClusterFixtures.outlier(1, 0, Duration.ofSeconds(30), 50, 0);
    Cluster c = ClusterFixtures.cluster(m, s, p);
    c.recordOutcome(c.hosts().get(0), 500, false, 0);
    Cluster again = ClusterFixtures.cluster(m, ClusterFixtures.snapshot(2), p);
    assertThat(again.availableHosts(0)).hasSize(1);
  }
}
