package dev.ambientj.waypoint.filter.fault;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.Test;

class FaultPolicyTest {
  @Test
  void seedDelayTenPercentAndAbortFivePercentAreDrawnIndependently() {
    FaultPolicy p = new FaultPolicy(Duration.ofMillis(500), 10, 503, null, 5);
    Random r = new Random(42);
    int delayed = 0;
    int aborted = 0;
    int both = 0;
    int n = 100_000;
    for (int i = 0; i < n; i++) {
      FaultPolicy.Decision d = p.decide(r);
      if (d.delays()) {
        delayed++;
        assertThat(d.delay()).isEqualTo(Duration.ofMillis(500));
      }
      if (d.aborts()) {
        aborted++;
        assertThat(d.abortHttpStatus()).isEqualTo(503);
      }
      if (d.delays() && d.aborts()) {
        both++;
      }
    }
    assertThat(delayed / (double) n).isBetween(0.095, 0.105);
    assertThat(aborted / (double) n).isBetween(0.045, 0.055);
    assertThat(both / (double) n).isBetween(0.004, 0.006);
  }

  @Test
  void sameSeedSameDecisions() {
    FaultPolicy p = new FaultPolicy(Duration.ofMillis(500), 10, 503, null, 5);
    Random a = new Random(7);
    Random b = new Random(7);
    for (int i = 0; i < 1000; i++) {
      assertThat(p.decide(a)).isEqualTo(p.decide(b));
    }
  }

  @Test
  void grpcAbortAndEdges() {
    FaultPolicy grpc = new FaultPolicy(Duration.ZERO, 0, 0, "14", 100);
    FaultPolicy.Decision d = grpc.decide(new Random(1));
    assertThat(d.aborts()).isTrue();
    assertThat(d.abortGrpcStatus()).isEqualTo("14");
    assertThat(FaultPolicy.NONE.decide(new Random(1))).isEqualTo(FaultPolicy.Decision.PASS);
    assertThat(new FaultPolicy(Duration.ofSeconds(1), 0, 503, null, 0).decide(new Random(1)))
        .isEqualTo(FaultPolicy.Decision.PASS);
  }
}
