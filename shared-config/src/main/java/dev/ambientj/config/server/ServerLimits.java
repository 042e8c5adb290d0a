package dev.ambientj.config.server;

import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.Objects;

/**
 * The deadlines and caps of the config server's listeners (xDS and CA, plaintext and TLS), with
 * safe defaults; each has a {@code mesh config-server} flag. Istio's istiod values where it has
 * them (keepalive, message size), the HTTP/2 norm otherwise.
 *
 * @param handshakeTimeout how long a new connection may take to finish its handshake — TLS on the
 *     TLS port, then the HTTP/2 client preface and first SETTINGS frame on both — before it is
 *     closed ({@code --handshake-timeout}, default 10 s)
 * @param idleTimeout how long a connection with no call in progress is kept ({@code
 *     --idle-timeout}, default 5 min; a proxy's xDS stream is a call that lasts, so only idle
 *     connections — a CA channel between renewals, or an idle client — are closed, with GOAWAY)
 * @param keepAliveTime how often the server pings a connection that has been quiet, to find dead
 *     peers (30 s, Istio's); {@code keepAliveTimeout} how long it waits for the answer (10 s)
 * @param permitKeepAliveTime the shortest ping interval a client may use before it is told {@code
 *     ENHANCE_YOUR_CALM} and closed ({@code --keepalive-min-interval}, default 15 s, Istio's),
 *     also without calls in progress (as Istio permits)
 * @param maxConnections how many connections all listeners together may hold ({@code
 *     --max-connections}); 0 picks {@value #DEFAULT_MAX_CONNECTIONS} or less, so that at least
 *     {@link #descriptorReserve} of the process's descriptors stay free for its own work
 *     (Kubernetes watches, config files, the CA); a larger value is lowered to that too
 * @param maxConnectionsPerClient how many connections one source address may hold ({@code
 *     --max-connections-per-client}, default {@value #DEFAULT_MAX_CONNECTIONS_PER_CLIENT}; a proxy
 *     holds two)
 * @param maxPendingHandshakes how many connections may be in their handshake at once ({@code
 *     --max-pending-handshakes}, default {@value #DEFAULT_MAX_PENDING_HANDSHAKES}): over it, or
 *     over {@code maxConnections}, the oldest connection still in its handshake is closed to make
 *     room for the new one, so idle sockets cannot keep real proxies out
 * @param maxCallsPerConnection concurrent calls per connection (HTTP/2 {@code
 *     MAX_CONCURRENT_STREAMS}, {@code --max-calls-per-connection}, default 100; a client queues
 *     calls beyond it)
 * @param maxRequestBytes the largest request message ({@code --max-request-bytes}, default 4 MiB,
 *     Istio's; a delta-xDS request naming every resource a proxy holds is the largest)
 * @param maxResetsPerWindow how many RST_STREAMs a client may send per {@code resetWindow} before
 *     its connection is closed (HTTP/2 rapid reset; 200 per 10 s)
 */
public record ServerLimits(
    Duration handshakeTimeout,
    Duration idleTimeout,
    Duration keepAliveTime,
    Duration keepAliveTimeout,
    Duration permitKeepAliveTime,
    int maxConnections,
    int maxConnectionsPerClient,
    int maxPendingHandshakes,
    int maxCallsPerConnection,
    int maxRequestBytes,
    int maxResetsPerWindow,
    Duration resetWindow) {

  public static final int DEFAULT_MAX_CONNECTIONS = 16_384;
  public static final int DEFAULT_MAX_CONNECTIONS_PER_CLIENT = 256;
  public static final int DEFAULT_MAX_PENDING_HANDSHAKES = 1_024;

  public ServerLimits {
    positive(handshakeTimeout, "handshake timeout");
    positive(idleTimeout, "idle timeout");
    positive(keepAliveTime, "keepalive time");
    positive(keepAliveTimeout, "keepalive timeout");
    positive(permitKeepAliveTime, "keepalive min interval");
    positive(resetWindow, "reset window");
    if (maxConnections < 0 || maxConnectionsPerClient < 1 || maxPendingHandshakes < 1
        || maxCallsPerConnection < 1 || maxRequestBytes < 1 || maxResetsPerWindow < 1) {
      throw new IllegalArgumentException("connection limits must be positive (max connections"
          + " may be 0: from the descriptor limit)");
    }
  }

  /** The defaults described above. */
  public static ServerLimits defaults() {
    return new ServerLimits(Duration.ofSeconds(10), Duration.ofMinutes(5), Duration.ofSeconds(30),
        Duration.ofSeconds(10), Duration.ofSeconds(15), 0, DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
        DEFAULT_MAX_PENDING_HANDSHAKES, 100, 4 * 1024 * 1024, 200, Duration.ofSeconds(10));
  }

  public ServerLimits withHandshakeTimeout(Duration d) {
    return new ServerLimits(d, idleTimeout, keepAliveTime, keepAliveTimeout, permitKeepAliveTime,
        maxConnections, maxConnectionsPerClient, maxPendingHandshakes, maxCallsPerConnection,
        maxRequestBytes, maxResetsPerWindow, resetWindow);
  }

  public ServerLimits withIdleTimeout(Duration d) {
    return new ServerLimits(handshakeTimeout, d, keepAliveTime, keepAliveTimeout,
        permitKeepAliveTime, maxConnections, maxConnectionsPerClient, maxPendingHandshakes,
        maxCallsPerConnection, maxRequestBytes, maxResetsPerWindow, resetWindow);
  }

  public ServerLimits withPermitKeepAliveTime(Duration d) {
    return new ServerLimits(handshakeTimeout, idleTimeout, keepAliveTime, keepAliveTimeout, d,
        maxConnections, maxConnectionsPerClient, maxPendingHandshakes, maxCallsPerConnection,
        maxRequestBytes, maxResetsPerWindow, resetWindow);
  }

  /**
   * The caps: total ({@code 0} for the default), per client, pending handshakes, calls per
   * connection, request bytes.
   */
  public ServerLimits withCaps(int total, int perClient, int pendingHandshakes,
      int callsPerConnection, int requestBytes) {
    return new ServerLimits(handshakeTimeout, idleTimeout, keepAliveTime, keepAliveTimeout,
        permitKeepAliveTime, total, perClient, pendingHandshakes, callsPerConnection, requestBytes,
        maxResetsPerWindow, resetWindow);
  }

  /**
   * The connection cap in force for a process allowed {@code descriptorLimit} open files (0 or
   * less: unknown): {@link #maxConnections} (or the default) lowered so that {@link
   * #descriptorReserve} descriptors stay free.
   */
  public int effectiveMaxConnections(long descriptorLimit) {
    int wanted = maxConnections == 0 ? DEFAULT_MAX_CONNECTIONS : maxConnections;
    if (descriptorLimit <= 0) {
      return wanted;
    }
    long budget = Math.max(1, descriptorLimit - descriptorReserve(descriptorLimit));
    return (int) Math.min(wanted, budget);
  }

  /**
   * Descriptors kept free for the server's own work: a quarter of the limit, at least 256 and at
   * most 4,096 (e.g. 4,096 of 20,000; 256 of 1,024).
   */
  public static long descriptorReserve(long descriptorLimit) {
    return Math.min(4096, Math.max(256, descriptorLimit / 4));
  }

  /** This process's open-files limit (RLIMIT_NOFILE), or -1 where the JVM cannot tell. */
  public static long processDescriptorLimit() {
    if (ManagementFactory.getOperatingSystemMXBean()
        instanceof com.sun.management.UnixOperatingSystemMXBean unix) {
      return unix.getMaxFileDescriptorCount();
    }
    return -1;
  }

  /** This process's open descriptors, or -1 where the JVM cannot tell. */
  public static long processOpenDescriptors() {
    if (ManagementFactory.getOperatingSystemMXBean()
        instanceof com.sun.management.UnixOperatingSystemMXBean unix) {
      return unix.getOpenFileDescriptorCount();
    }
    return -1;
  }

  private static void positive(Duration d, String what) {
    Objects.requireNonNull(d, what);
    if (d.isNegative() || d.isZero()) {
      throw new IllegalArgumentException(what + " must be positive, not " + d);
    }
  }
}
