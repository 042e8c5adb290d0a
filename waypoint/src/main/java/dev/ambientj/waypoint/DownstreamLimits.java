package dev.ambientj.waypoint;

import dev.ambientj.waypoint.telemetry.ListenerStats;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.Objects;

/**
 * The deadlines and caps of the waypoint's downstream side, and where what they did is counted.
 *
 * @param requestHeadersTimeout first byte of a request to the end of its headers (HTTP/1.1); 408
 *     after it; zero disables
 * @param idleTimeout how long a client connection (an L7 tunnel) may have no request in progress;
 *     zero disables
 * @param maxConnections HBONE connections open at once; more are closed as soon as accepted
 * @param stats the counters
 */
record DownstreamLimits(Duration requestHeadersTimeout, Duration idleTimeout, int maxConnections,
    ListenerStats stats) {

  /** Envoy disables it by default; a client in the mesh that needs 10 s for its headers is stuck. */
  static final Duration DEFAULT_REQUEST_HEADERS_TIMEOUT = Duration.ofSeconds(10);
  /** Envoy's HTTP connection manager default. */
  static final Duration DEFAULT_IDLE_TIMEOUT = Duration.ofHours(1);
  /**
   * Descriptors kept free of downstream connections: upstream HBONE connections, the metrics
   * server, the config source, certificates and the JVM's own files.
   */
  static final int DESCRIPTOR_HEADROOM = 1024;

  DownstreamLimits {
    Objects.requireNonNull(requestHeadersTimeout, "requestHeadersTimeout");
    Objects.requireNonNull(idleTimeout, "idleTimeout");
    Objects.requireNonNull(stats, "stats");
    if (requestHeadersTimeout.isNegative() || idleTimeout.isNegative()) {
      throw new IllegalArgumentException("timeouts cannot be negative");
    }
    if (maxConnections < 1) {
      throw new IllegalArgumentException("maxConnections must be at least 1, got " + maxConnections);
    }
  }

  /**
   * The default connection cap: the process's descriptor limit (RLIMIT_NOFILE) less
   * {@link #DESCRIPTOR_HEADROOM}, at least 64; 16,384 when the limit cannot be read.
   */
  static int defaultMaxConnections() {
    long limit = -1;
    if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.UnixOperatingSystemMXBean unix) {
      limit = unix.getMaxFileDescriptorCount();
    }
    if (limit <= 0) {
      return 16_384;
    }
    return (int) Math.max(64, Math.min(Integer.MAX_VALUE, limit - DESCRIPTOR_HEADROOM));
  }
}
