package dev.ambientj.waypoint.route;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.waypoint.route.RetryPolicy.Failure;
import java.time.Duration;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class RetryPolicyTest {
  static RetryPolicy on(String retryOn) {
    return RetryPolicy.parse(2, Duration.ZERO, retryOn, Set.of());
  }

  @Test
  void fiveXx() {
    RetryPolicy p = on("5xx");
    assertThat(p.retriesResponse(500, null)).isTrue();
    assertThat(p.retriesResponse(503, null)).isTrue();
    assertThat(p.retriesResponse(404, null)).isFalse();
    assertThat(p.retriesFailure(Failure.CONNECT_FAILURE)).isTrue();
    assertThat(p.retriesFailure(Failure.RESET)).isTrue();
    assertThat(p.retriesFailure(Failure.PER_TRY_TIMEOUT)).isTrue();
  }

  @Test
  void gatewayError() {
    RetryPolicy p = on("gateway-error");
    assertThat(p.retriesResponse(502, null)).isTrue();
    assertThat(p.retriesResponse(503, null)).isTrue();
    assertThat(p.retriesResponse(504, null)).isTrue();
    assertThat(p.retriesResponse(500, null)).isFalse();
  }

  @Test
  void resetConnectFailureRefusedStream() {
    assertThat(on("reset").retriesFailure(Failure.RESET)).isTrue();
    assertThat(on("reset").retriesResponse(503, null)).isFalse();
    assertThat(on("connect-failure").retriesFailure(Failure.CONNECT_FAILURE)).isTrue();
    assertThat(on("connect-failure").retriesFailure(Failure.RESET)).isFalse();
    assertThat(on("refused-stream").retriesFailure(Failure.REFUSED_STREAM)).isTrue();
    assertThat(on("refused-stream").retriesFailure(Failure.RESET)).isFalse();
  }

  @Test
  void retriable4xxAndStatusCodes() {
    assertThat(on("retriable-4xx").retriesResponse(409, null)).isTrue();
    assertThat(on("retriable-4xx").retriesResponse(404, null)).isFalse();
    RetryPolicy codes = on("retriable-status-codes,418,429");
    assertThat(codes.retriesResponse(418, null)).isTrue();
    assertThat(codes.retriesResponse(429, null)).isTrue();
    assertThat(codes.retriesResponse(500, null)).isFalse();
  }

  @Test
  void grpcConditions() {
    RetryPolicy p = on("cancelled,deadline-exceeded,resource-exhausted,unavailable");
    assertThat(p.retriesResponse(200, "1")).isTrue();
    assertThat(p.retriesResponse(200, "4")).isTrue();
    assertThat(p.retriesResponse(200, "8")).isTrue();
    assertThat(p.retriesResponse(200, "14")).isTrue();
    assertThat(p.retriesResponse(200, "0")).isFalse();
    assertThat(p.retriesResponse(200, "13")).isFalse();
    assertThat(on("unavailable").retriesResponse(200, "4")).isFalse();
  }

  @Test
  void istioDefaultAndNoAttempts() {
    RetryPolicy d = RetryPolicy.ISTIO_DEFAULT;
    assertThat(d.attempts()).isEqualTo(2);
    assertThat(d.retriesResponse(503, null)).isTrue();
    assertThat(d.retriesResponse(500, null)).isFalse();
    assertThat(d.retriesFailure(Failure.CONNECT_FAILURE)).isTrue();
    assertThat(d.retriesResponse(200, "14")).isTrue();
    assertThat(RetryPolicy.NONE.retriesResponse(503, null)).isFalse();
    assertThat(RetryPolicy.parse(0, Duration.ZERO, "5xx", Set.of()).retriesResponse(503, null)).isFalse();
  }

  @Test
  void backoffIsJitteredExponentialFrom25msCappedAt250ms() {
    RetryPolicy p = on("5xx");
    Random r = new Random(1);
    long max1 = 0;
    long max5 = 0;
    for (int i = 0; i < 10_000; i++) {
      max1 = Math.max(max1, p.backoffMillis(1, r));
      max5 = Math.max(max5, p.backoffMillis(5, r));
    }
    assertThat(max1).isLessThan(50).isGreaterThan(40);
    assertThat(max5).isLessThan(250).isGreaterThan(240);
  }
}
