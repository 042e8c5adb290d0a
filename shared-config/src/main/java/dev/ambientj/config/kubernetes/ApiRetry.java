package dev.ambientj.config.kubernetes;

import io.fabric8.kubernetes.client.KubernetesClientException;
import java.io.IOException;
import java.net.HttpURLConnection;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeoutException;
import java.util.function.DoubleSupplier;

/**
 * How a process retries the Kubernetes API when it is slow or away, as client-go's reflector does:
 * every transient failure is retried, forever, after a delay that doubles from {@link #INITIAL}
 * to {@link #CAP}, each delay drawn uniformly from [d/2, d] so that the clients of one API server
 * that failed together do not come back together. The process stays up and says it is not ready
 * meanwhile; only a failure that retrying cannot cure ({@link #isTransient} false: a request the
 * server rejects as malformed, content that does not parse) ends it.
 *
 * <p>Stateless apart from its delays; {@link #call} runs on the caller's thread and sleeps there.
 */
public final class ApiRetry {
  /** client-go's reflector starts at 800 ms... */
  public static final Duration INITIAL = Duration.ofMillis(800);
  /** ...and caps at 30 s: a whole cluster's nodes retrying one API server must not flood it. */
  public static final Duration CAP = Duration.ofSeconds(30);

  /** The delays of a process: {@link #INITIAL} to {@link #CAP}. */
  public static final ApiRetry DEFAULT = new ApiRetry(INITIAL, CAP, () -> ThreadLocalRandom.current().nextDouble());

  private final Duration initial;
  private final Duration cap;
  private final DoubleSupplier random;

  ApiRetry(Duration initial, Duration cap, DoubleSupplier random) {
    if (initial.isNegative() || initial.isZero() || cap.compareTo(initial) < 0) {
      throw new IllegalArgumentException("back-off from " + initial + " to " + cap);
    }
    this.initial = initial;
    this.cap = cap;
    this.random = random;
  }

  /** Delays from {@code initial} to {@code cap} (tests shorten them). */
  public static ApiRetry between(Duration initial, Duration cap) {
    return new ApiRetry(initial, cap, () -> ThreadLocalRandom.current().nextDouble());
  }

  public Duration cap() {
    return cap;
  }

  /** The wait before attempt {@code failures + 1}, after {@code failures} (≥ 1) failures in a row. */
  public Duration delay(int failures) {
    long base = initial.toMillis() << Math.min(Math.max(failures, 1) - 1, 20);
    long capped = Math.min(base, cap.toMillis());
    return Duration.ofMillis((long) (capped * (0.5 + 0.5 * random.getAsDouble())));
  }

  /**
   * Whether retrying {@code t} may succeed: no answer at all (refused, reset, timed out, a name
   * not resolved yet), or an answer that a later attempt can change — 401 (a token the kubelet is
   * about to rotate), 403 (RBAC not applied yet), 408, 429 and 5xx. A 4xx about the request
   * itself, or content that does not parse, is not.
   */
  public static boolean isTransient(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (c instanceof KubernetesClientException kce) {
        int code = kce.getCode();
        // No status: the request got no answer (Fabric8 wraps the I/O failure).
        return code <= 0 || code == HttpURLConnection.HTTP_UNAUTHORIZED
            || code == HttpURLConnection.HTTP_FORBIDDEN || code == HttpURLConnection.HTTP_CLIENT_TIMEOUT
            || code == 429 || code >= 500;
      }
    }
    for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (c instanceof java.net.SocketException || c instanceof java.io.InterruptedIOException
          || c instanceof java.net.UnknownHostException || c instanceof java.net.http.HttpTimeoutException
          || c instanceof javax.net.ssl.SSLException || c instanceof java.io.EOFException
          || c instanceof java.nio.channels.ClosedChannelException || c instanceof TimeoutException) {
        return true;
      }
    }
    return false;
  }

  /** The innermost message of {@code t}, with the HTTP status when the API server answered. */
  public static String describe(Throwable t) {
    Integer code = null;
    Throwable root = t;
    for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (code == null && c instanceof KubernetesClientException kce && kce.getCode() > 0) {
        code = kce.getCode();
      }
      root = c;
    }
    String message = root.getMessage() == null ? root.getClass().getSimpleName() : root.getMessage();
    return (code == null ? "" : "HTTP " + code + ": ") + message;
  }

  /** One API call (or a few in a row) that may fail with the API's exceptions. */
  @FunctionalInterface
  public interface Call<T> {
    T run() throws IOException;
  }

  /**
   * Runs {@code call} until it returns, waiting {@link #delay} after each transient failure and
   * telling {@code outage} about each failure and the recovery (so an outage is one log line).
   *
   * @throws IOException the first failure that is not {@linkplain #isTransient transient}
   * @throws InterruptedException when the thread is interrupted while waiting (e.g. the process stops)
   */
  public <T> T call(ApiOutage outage, String what, Call<T> call) throws IOException, InterruptedException {
    for (int failures = 1; ; failures++) {
      try {
        T result = call.run();
        outage.recovered();
        return result;
      } catch (IOException | RuntimeException e) {
        if (!isTransient(e)) {
          throw e instanceof IOException io ? io : new IOException(what + ": " + describe(e), e);
        }
        outage.failed(what + ": " + describe(e));
        Thread.sleep(delay(failures).toMillis());
      }
    }
  }
}
