package dev.ambientj.ztunnel.proxy;

import dev.ambientj.ztunnel.fairness.WorkloadBudget;
import java.time.Duration;
import java.util.Objects;

/**
 * Deadlines and caps of one ztunnel's listeners ({@code --max-connections} and friends).
 *
 * <p>Caps count sockets, because what runs out is descriptors: {@code maxConnections} bounds the
 * sockets the proxy holds for pod traffic — connections accepted on the pod listeners (15001,
 * 15006, 15008, 15080) plus the upstream TCP connections it opens for them — and
 * {@code maxHandshakes} those accepted connections still in a handshake phase (SOCKS5 greeting and
 * request, TLS handshake, upstream connect). Each workload listener has its own, smaller caps, so
 * one pod cannot take the whole proxy's share.
 *
 * <p>{@link #derive(long)} sizes them from the process's descriptor limit, keeping a
 * {@link #headroom(long) headroom} that pod traffic can never use: the node's admin, metrics and
 * readiness servers (each capped at {@code adminMaxConnections}), HBONE pool connections, xDS,
 * the CA, the JVM's own files.
 *
 * @param socks5HandshakeTimeout how long a SOCKS5 client has for its greeting and request
 * @param connectTimeout how long the outbound path may take to connect upstream (TCP, or HBONE
 *     including the certificate, the TLS handshake and the CONNECT response) before the client is
 *     answered with an error
 * @param maxConnections sockets for pod traffic per proxy (accepted and upstream)
 * @param maxHandshakes accepted connections in a handshake phase per proxy
 * @param listenerMaxConnections accepted connections per workload listener
 * @param listenerMaxHandshakes accepted connections in a handshake phase per workload listener
 * @param adminMaxConnections connections per node server (admin 15000, metrics 15020,
 *     readiness 15021)
 * @param workloadBudget what one source workload may take of the proxy by default (pods override
 *     it with annotations; see {@link dev.ambientj.ztunnel.fairness.WorkloadBudgets}); null: no
 *     per-workload budgets ({@code --fairness off})
 */
public record ProxyLimits(
    Duration socks5HandshakeTimeout,
    Duration connectTimeout,
    int maxConnections,
    int maxHandshakes,
    int listenerMaxConnections,
    int listenerMaxHandshakes,
    int adminMaxConnections,
    WorkloadBudget workloadBudget) {

  /** Descriptors assumed when the limit cannot be read (the common {@code ulimit -n} default). */
  static final long UNKNOWN_LIMIT = 1024;
  /** Connections each node server (admin, metrics, readiness) holds at most. */
  public static final int DEFAULT_ADMIN_MAX_CONNECTIONS = 64;
  /** Time a SOCKS5 client has for greeting and request (as a TLS handshake's 10 s). */
  public static final Duration DEFAULT_SOCKS5_HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);
  /** Upstream connect deadline: ztunnel's {@code CONNECTION_TIMEOUT}. */
  public static final Duration DEFAULT_CONNECT_TIMEOUT =
      Duration.ofMillis(ProxyContext.CONNECT_TIMEOUT_MILLIS);

  public ProxyLimits {
    Objects.requireNonNull(socks5HandshakeTimeout, "socks5HandshakeTimeout");
    Objects.requireNonNull(connectTimeout, "connectTimeout");
    positive("SOCKS5 handshake timeout", socks5HandshakeTimeout);
    positive("connect timeout", connectTimeout);
    atLeastOne("max connections", maxConnections);
    atLeastOne("max handshakes", maxHandshakes);
    atLeastOne("max connections per listener", listenerMaxConnections);
    atLeastOne("max handshakes per listener", listenerMaxHandshakes);
    atLeastOne("max connections per node server", adminMaxConnections);
  }

  /**
   * Descriptors never given to pod traffic out of {@code fdLimit}: a tenth, at least 512 (the
   * node servers' caps, the JVM's files and a margin) and at most 65,536.
   */
  public static long headroom(long fdLimit) {
    return Math.clamp(fdLimit / 10, 512, 65_536);
  }

  /**
   * Defaults for a process that may open {@code fdLimit} descriptors (-1: unknown): pod traffic
   * gets {@code fdLimit - headroom} sockets (at least a quarter of the limit); a quarter of them
   * may be in a handshake; one workload listener may hold a quarter (its connections and their
   * upstream sockets: half) and have a sixteenth in a handshake. One source workload may hold a
   * quarter of the sockets across its outbound listeners and a quarter as HBONE streams into this
   * node, and open {@link WorkloadBudget#DEFAULT_CONNECTION_RATE} connections a second.
   */
  public static ProxyLimits derive(long fdLimit) {
    long limit = fdLimit > 0 ? Math.min(fdLimit, Integer.MAX_VALUE) : UNKNOWN_LIMIT;
    int budget = (int) Math.max(limit - headroom(limit), limit / 4);
    int quarter = Math.max(1, budget / 4);
    return new ProxyLimits(DEFAULT_SOCKS5_HANDSHAKE_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, budget,
        quarter, quarter, Math.max(1, budget / 16), DEFAULT_ADMIN_MAX_CONNECTIONS,
        new WorkloadBudget(quarter, WorkloadBudget.DEFAULT_CONNECTION_RATE, quarter));
  }

  public ProxyLimits withSocks5HandshakeTimeout(Duration timeout) {
    return new ProxyLimits(timeout, connectTimeout, maxConnections, maxHandshakes,
        listenerMaxConnections, listenerMaxHandshakes, adminMaxConnections, workloadBudget);
  }

  public ProxyLimits withConnectTimeout(Duration timeout) {
    return new ProxyLimits(socks5HandshakeTimeout, timeout, maxConnections, maxHandshakes,
        listenerMaxConnections, listenerMaxHandshakes, adminMaxConnections, workloadBudget);
  }

  /** Caps per proxy (sockets for pod traffic, and handshakes). */
  public ProxyLimits withProxyCaps(int connections, int handshakes) {
    return new ProxyLimits(socks5HandshakeTimeout, connectTimeout, connections, handshakes,
        listenerMaxConnections, listenerMaxHandshakes, adminMaxConnections, workloadBudget);
  }

  /** Caps per workload listener (accepted connections, and handshakes). */
  public ProxyLimits withListenerCaps(int connections, int handshakes) {
    return new ProxyLimits(socks5HandshakeTimeout, connectTimeout, maxConnections, maxHandshakes,
        connections, handshakes, adminMaxConnections, workloadBudget);
  }

  public ProxyLimits withAdminMaxConnections(int connections) {
    return new ProxyLimits(socks5HandshakeTimeout, connectTimeout, maxConnections, maxHandshakes,
        listenerMaxConnections, listenerMaxHandshakes, connections, workloadBudget);
  }

  /** The default budget of each source workload; null turns per-workload budgets off. */
  public ProxyLimits withWorkloadBudget(WorkloadBudget budget) {
    return new ProxyLimits(socks5HandshakeTimeout, connectTimeout, maxConnections, maxHandshakes,
        listenerMaxConnections, listenerMaxHandshakes, adminMaxConnections, budget);
  }

  private static void positive(String what, Duration d) {
    if (d.isNegative() || d.isZero()) {
      throw new IllegalArgumentException(what + " must be positive (got " + d + ")");
    }
  }

  private static void atLeastOne(String what, int n) {
    if (n < 1) {
      throw new IllegalArgumentException(what + " must be at least 1 (got " + n + ")");
    }
  }
}
