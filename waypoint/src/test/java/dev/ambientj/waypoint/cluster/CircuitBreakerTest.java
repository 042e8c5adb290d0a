package dev.ambientj.waypoint.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class CircuitBreakerTest {
  static ClusterPolicy pool(int maxConnections, int pending, int maxRequests, int maxRetries) {
    return new ClusterPolicy(LbPolicy.ROUND_ROBIN, maxConnections, pending, maxRequests, 0, maxRetries,
        OutlierPolicy.DISABLED);
  }

  @Test
  void requestsBeyondHttp2MaxRequestsOverflow() {
    CircuitBreaker b = new CircuitBreaker(pool(100, 100, 2, 10));
    assertThat(b.tryStartRequest()).isTrue();
    assertThat(b.tryStartRequest()).isTrue();
    assertThat(b.tryStartRequest()).as("503 UO").isFalse();
    b.endRequest();
    assertThat(b.tryStartRequest()).isTrue();
  }

  @Test
  void connectionsQueueAsPendingThenOverflow() {
    CircuitBreaker b = new CircuitBreaker(pool(1, 1, 100, 10));
    List<String> events = new ArrayList<>();
    assertThat(b.acquireConnection(() -> events.add("a"))).isTrue();
    assertThat(b.acquireConnection(() -> events.add("b"))).as("waits (pending)").isTrue();
    assertThat(b.acquireConnection(() -> events.add("c"))).as("pending full: 503 UO").isFalse();
    assertThat(events).containsExactly("a");
    assertThat(b.pendingRequests()).isEqualTo(1);
    b.releaseConnection();
    assertThat(events).containsExactly("a", "b");
    assertThat(b.activeConnections()).isEqualTo(1);
    assertThat(b.pendingRequests()).isZero();
  }

  @Test
  void cancelledWaiterGivesBackItsPendingSlot() {
    CircuitBreaker b = new CircuitBreaker(pool(1, 1, 100, 10));
    b.acquireConnection(() -> {});
    CircuitBreaker.Waiter w = () -> {
      throw new AssertionError("cancelled waiter must not be granted");
    };
    b.acquireConnection(w);
    assertThat(b.cancelWait(w)).isTrue();
    assertThat(b.pendingRequests()).isZero();
    b.releaseConnection();
    assertThat(b.activeConnections()).isZero();
  }

  @Test
  void retriesAreBudgeted() {
    CircuitBreaker b = new CircuitBreaker(pool(1, 1, 100, 1));
    assertThat(b.tryStartRetry()).isTrue();
    assertThat(b.tryStartRetry()).isFalse();
    b.endRetry();
    assertThat(b.tryStartRetry()).isTrue();
  }
}
