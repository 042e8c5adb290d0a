package dev.ambientj.waypoint.telemetry;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What the waypoint's listener and its HTTP connection handling did to protect themselves, under
 * Envoy's statistic names (Prometheus form), so that an operator used to an Istio waypoint finds
 * them where they expect:
 *
 * <ul>
 *   <li>{@code envoy_listener_downstream_cx_active} — HBONE connections open now;
 *   <li>{@code envoy_listener_downstream_cx_total} — HBONE connections accepted;
 *   <li>{@code envoy_listener_downstream_cx_overflow_total} — connections closed at once because
 *       the connection limit was reached;
 *   <li>{@code envoy_http_downstream_rq_header_timeout_total} — requests whose headers did not
 *       arrive within the request headers timeout (answered 408);
 *   <li>{@code envoy_http_downstream_cx_idle_timeout_total} — client connections (HBONE tunnels
 *       carrying HTTP) closed after the idle timeout.
 * </ul>
 */
public final class ListenerStats {
  private final AtomicInteger active = new AtomicInteger();
  private final Counter accepted;
  private final Counter overflow;
  private final Counter headerTimeouts;
  private final Counter idleTimeouts;

  public ListenerStats(MeterRegistry registry) {
    Gauge.builder("envoy_listener_downstream_cx_active", active, AtomicInteger::get)
        .description("HBONE connections open now").register(registry);
    accepted = Counter.builder("envoy_listener_downstream_cx").description("HBONE connections accepted")
        .register(registry);
    overflow = Counter.builder("envoy_listener_downstream_cx_overflow")
        .description("HBONE connections closed because the connection limit was reached").register(registry);
    headerTimeouts = Counter.builder("envoy_http_downstream_rq_header_timeout")
        .description("requests whose headers did not arrive within the request headers timeout").register(registry);
    idleTimeouts = Counter.builder("envoy_http_downstream_cx_idle_timeout")
        .description("client connections closed after the idle timeout").register(registry);
  }

  /** Counts a new connection if fewer than {@code max} are open; false (counted as overflow) otherwise. */
  public boolean tryOpen(int max) {
    while (true) {
      int n = active.get();
      if (n >= max) {
        overflow.increment();
        return false;
      }
      if (active.compareAndSet(n, n + 1)) {
        accepted.increment();
        return true;
      }
    }
  }

  /** A connection counted by {@link #tryOpen} closed. */
  public void closed() {
    active.decrementAndGet();
  }

  public int active() {
    return active.get();
  }

  public void headerTimeout() {
    headerTimeouts.increment();
  }

  public void idleTimeout() {
    idleTimeouts.increment();
  }
}
