package dev.ambientj.ztunnel.telemetry;

import dev.ambientj.hbone.transport.AcceptBackoff;
import dev.ambientj.hbone.transport.ConnectionLimiter;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import java.util.List;
import java.util.Locale;

/**
 * What ztunnel's listeners refuse and hold (ambientj's own metrics, beside Istio's):
 *
 * <ul>
 *   <li>{@code ambientj_connections_refused_total{scope, listener, workload, workload_namespace,
 *       limit}} — connections refused by a cap: {@code scope} {@code listener} (the workload
 *       listener's own cap), {@code proxy} (the whole proxy's) or {@code node_server} (admin,
 *       metrics, readiness); {@code listener} is {@code socks5}, {@code outbound},
 *       {@code inbound_plaintext}, {@code hbone}, {@code upstream} (a socket the proxy would have
 *       opened), {@code admin}, {@code metrics} or {@code readiness}; {@code limit} is
 *       {@code connections} or {@code handshakes};
 *   <li>{@code ambientj_proxy_connections{state}} and {@code ambientj_proxy_connections_limit{state}}
 *       — sockets held for pod traffic now ({@code state="open"}) and accepted connections in a
 *       handshake phase ({@code state="handshake"}), and their caps;
 *   <li>{@code ambientj_listener_connections{listener, workload, workload_namespace, state}} — the
 *       same per workload listener, while it is served;
 *   <li>{@code ambientj_accept_failures_total{error}} — failed accepts ({@code emfile},
 *       {@code enfile}, {@code other}) on every listener of this ztunnel;
 *   <li>{@code ambientj_socks5_rejected_total{reason}} — SOCKS5 clients closed before their
 *       request was served: malformed requests and handshakes that timed out or were abandoned.
 * </ul>
 *
 * <p>Threading: Micrometer meters are thread-safe; refusals look their counter up in the registry
 * (the overload path, not the per-connection one).
 */
public final class ListenerMetrics {
  public static final String REFUSED = "ambientj.connections.refused";
  public static final String PROXY_CONNECTIONS = "ambientj.proxy.connections";
  public static final String PROXY_LIMIT = "ambientj.proxy.connections.limit";
  public static final String LISTENER_CONNECTIONS = "ambientj.listener.connections";
  public static final String ACCEPT_FAILURES = "ambientj.accept.failures";
  public static final String SOCKS5_REJECTED = "ambientj.socks5.rejected";

  /** Where a refusing cap sits. */
  public enum Scope { LISTENER, PROXY, NODE_SERVER }

  private final MeterRegistry registry;

  public ListenerMetrics(MeterRegistry registry, ConnectionLimiter proxy, AcceptBackoff accepts) {
    this.registry = registry;
    Gauge.builder(PROXY_CONNECTIONS, proxy, ConnectionLimiter::connections)
        .description("Sockets ztunnel holds for pod traffic (accepted and upstream), and accepted"
            + " connections still in a handshake phase")
        .tags("state", "open").strongReference(true).register(registry);
    Gauge.builder(PROXY_CONNECTIONS, proxy, ConnectionLimiter::handshakes)
        .tags("state", "handshake").strongReference(true).register(registry);
    Gauge.builder(PROXY_LIMIT, proxy, ConnectionLimiter::maxConnections)
        .description("Caps of ambientj_proxy_connections (--max-connections, --max-handshakes)")
        .tags("state", "open").strongReference(true).register(registry);
    Gauge.builder(PROXY_LIMIT, proxy, ConnectionLimiter::maxHandshakes)
        .tags("state", "handshake").strongReference(true).register(registry);
    for (AcceptBackoff.Error error : AcceptBackoff.Error.values()) {
      FunctionCounter.builder(ACCEPT_FAILURES, accepts, a -> a.failures(error))
          .description("Accepts that failed on ztunnel's listening sockets (emfile: descriptor"
              + " limit reached)")
          .tags("error", error.label()).register(registry);
    }
  }

  /**
   * Counts a connection refused by {@code refusal} at the listener {@code listener} of
   * {@code namespace/workload} (both "-" for node servers and upstream sockets).
   */
  public void refused(Scope scope, String listener, String namespace, String workload,
      ConnectionLimiter.Limit limit) {
    Counter.builder(REFUSED)
        .description("Connections refused because a connection or handshake cap was reached")
        .tags("scope", scope.name().toLowerCase(Locale.ROOT), "listener", listener,
            "workload_namespace", namespace, "workload", workload,
            "limit", limit.name().toLowerCase(Locale.ROOT))
        .register(registry).increment();
  }

  /** Counts a SOCKS5 client closed before its request was served, by low-cardinality reason. */
  public void socks5Rejected(String reason) {
    Counter.builder(SOCKS5_REJECTED)
        .description("SOCKS5 connections closed before their request was served (malformed,"
            + " timed out, abandoned)")
        .tags("reason", reason).register(registry).increment();
  }

  /**
   * Registers the gauges of one workload listener; the returned handle removes them (call when
   * the listener stops being served).
   */
  public AutoCloseable listener(ConnectionLimiter limiter, String listener, String namespace,
      String workload) {
    Tags tags = Tags.of("listener", listener, "workload_namespace", namespace, "workload",
        workload);
    List<Meter> meters = List.of(
        Gauge.builder(LISTENER_CONNECTIONS, limiter, ConnectionLimiter::connections)
            .description("Connections open at a workload listener, and those in a handshake phase")
            .tags(tags).tag("state", "open").strongReference(true).register(registry),
        Gauge.builder(LISTENER_CONNECTIONS, limiter, ConnectionLimiter::handshakes)
            .tags(tags).tag("state", "handshake").strongReference(true).register(registry));
    return () -> meters.forEach(registry::remove);
  }
}
