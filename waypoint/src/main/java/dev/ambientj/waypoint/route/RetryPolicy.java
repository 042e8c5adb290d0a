package dev.ambientj.waypoint.route;

import java.time.Duration;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;
import java.util.random.RandomGenerator;

/**
 * When and how often a request is tried again, with Envoy's semantics for each {@code retryOn}
 * condition:
 *
 * <ul>
 *   <li>{@code 5xx}: any 5xx response, or no response at all (connect failure, reset, per-try
 *       timeout);
 *   <li>{@code gateway-error}: 502, 503, 504, or no response at all;
 *   <li>{@code reset}: the upstream reset or closed before a response, or the per-try timeout fired;
 *   <li>{@code connect-failure}: the upstream connection (HBONE tunnel) could not be opened;
 *   <li>{@code refused-stream}: the upstream refused the stream (HTTP/2 REFUSED_STREAM);
 *   <li>{@code retriable-4xx}: 409;
 *   <li>{@code retriable-status-codes}: the codes listed (a bare number in {@code retryOn} adds it);
 *   <li>gRPC {@code cancelled}, {@code deadline-exceeded}, {@code resource-exhausted},
 *       {@code unavailable}: that {@code grpc-status} in the response headers (trailers-only).
 * </ul>
 *
 * <p>Backoff: Envoy's jittered exponential backoff, base 25 ms, capped at 10 × base: before retry
 * {@code n} (1-based) wait a uniform random time in {@code [0, min(base * 2^n, 10 * base))}.
 *
 * @param attempts retries after the first try (VirtualService {@code retries.attempts})
 * @param perTryTimeout zero for none (the route timeout then bounds every try)
 */
public record RetryPolicy(
    int attempts,
    Duration perTryTimeout,
    Set<Condition> retryOn,
    Set<Integer> retriableStatusCodes,
    Duration backoffBase) {

  /** A {@code retryOn} condition. */
  public enum Condition {
    FIVE_XX("5xx"),
    GATEWAY_ERROR("gateway-error"),
    RESET("reset"),
    CONNECT_FAILURE("connect-failure"),
    REFUSED_STREAM("refused-stream"),
    RETRIABLE_4XX("retriable-4xx"),
    RETRIABLE_STATUS_CODES("retriable-status-codes"),
    CANCELLED("cancelled"),
    DEADLINE_EXCEEDED("deadline-exceeded"),
    RESOURCE_EXHAUSTED("resource-exhausted"),
    UNAVAILABLE("unavailable");

    private final String wire;

    Condition(String wire) {
      this.wire = wire;
    }

    public String wireName() {
      return wire;
    }

    static Condition parse(String s) {
      for (Condition c : values()) {
        if (c.wire.equals(s)) {
          return c;
        }
      }
      return null;
    }
  }

  /** Why a try did not produce a usable response. */
  public enum Failure {
    CONNECT_FAILURE,
    RESET,
    REFUSED_STREAM,
    PER_TRY_TIMEOUT
  }

  public static final Duration DEFAULT_BACKOFF = Duration.ofMillis(25);

  /** No retries. */
  public static final RetryPolicy NONE =
      new RetryPolicy(0, Duration.ZERO, Set.of(), Set.of(), DEFAULT_BACKOFF);

  /**
   * Istio's default when a route sets no {@code retries}: 2 attempts on
   * connect-failure, refused-stream, unavailable, cancelled and 503.
   */
  public static final RetryPolicy ISTIO_DEFAULT = parse(2, Duration.ZERO,
      "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes", Set.of(503));

  public RetryPolicy {
    retryOn = retryOn.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(retryOn));
    retriableStatusCodes = Set.copyOf(retriableStatusCodes);
    perTryTimeout = perTryTimeout == null ? Duration.ZERO : perTryTimeout;
    backoffBase = backoffBase == null ? DEFAULT_BACKOFF : backoffBase;
  }

  /**
   * Builds a policy from Istio's comma-separated {@code retryOn}. Numbers become retriable status
   * codes (and imply {@code retriable-status-codes}); unknown names are ignored (validated earlier).
   */
  public static RetryPolicy parse(int attempts, Duration perTryTimeout, String retryOn, Set<Integer> extraCodes) {
    EnumSet<Condition> set = EnumSet.noneOf(Condition.class);
    java.util.HashSet<Integer> codes = new java.util.HashSet<>(extraCodes);
    if (retryOn != null) {
      for (String part : retryOn.split(",")) {
        String p = part.trim().toLowerCase(Locale.ROOT);
        if (p.isEmpty()) {
          continue;
        }
        if (p.chars().allMatch(Character::isDigit)) {
          codes.add(Integer.parseInt(p));
          set.add(Condition.RETRIABLE_STATUS_CODES);
          continue;
        }
        Condition c = Condition.parse(p);
        if (c != null) {
          set.add(c);
        }
      }
    }
    return new RetryPolicy(attempts, perTryTimeout, set, codes, DEFAULT_BACKOFF);
  }

  /** Whether a response with this status (and {@code grpc-status} header, or null) is retried. */
  public boolean retriesResponse(int status, String grpcStatus) {
    if (attempts <= 0) {
      return false;
    }
    if (status >= 500 && retryOn.contains(Condition.FIVE_XX)) {
      return true;
    }
    if ((status == 502 || status == 503 || status == 504) && retryOn.contains(Condition.GATEWAY_ERROR)) {
      return true;
    }
    if (status == 409 && retryOn.contains(Condition.RETRIABLE_4XX)) {
      return true;
    }
    if (retryOn.contains(Condition.RETRIABLE_STATUS_CODES) && retriableStatusCodes.contains(status)) {
      return true;
    }
    if (grpcStatus != null) {
      return switch (grpcStatus.trim()) {
        case "1" -> retryOn.contains(Condition.CANCELLED);
        case "4" -> retryOn.contains(Condition.DEADLINE_EXCEEDED);
        case "8" -> retryOn.contains(Condition.RESOURCE_EXHAUSTED);
        case "14" -> retryOn.contains(Condition.UNAVAILABLE);
        default -> false;
      };
    }
    return false;
  }

  /** Whether a try that failed without a response is retried. */
  public boolean retriesFailure(Failure failure) {
    if (attempts <= 0) {
      return false;
    }
    boolean anyNoResponse = retryOn.contains(Condition.FIVE_XX) || retryOn.contains(Condition.GATEWAY_ERROR);
    return switch (failure) {
      case CONNECT_FAILURE -> anyNoResponse || retryOn.contains(Condition.CONNECT_FAILURE);
      case RESET, PER_TRY_TIMEOUT -> anyNoResponse || retryOn.contains(Condition.RESET);
      case REFUSED_STREAM -> anyNoResponse || retryOn.contains(Condition.RESET)
          || retryOn.contains(Condition.REFUSED_STREAM);
    };
  }

  /** The wait before retry {@code n} (1-based), in milliseconds. */
  public long backoffMillis(int n, RandomGenerator random) {
    long base = Math.max(1, backoffBase.toMillis());
    long cap = base * 10;
    long upper = Math.min(cap, base << Math.min(n, 20));
    return random.nextLong(upper);
  }
}
