package dev.ambientj.ztunnel.telemetry;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * In-pod mode's workload manager, under Istio ztunnel's names (no {@code istio_} prefix):
 *
 * <ul>
 *   <li>{@code workload_manager_active_proxy_count}: pods handed over by the node agent whose
 *       listeners are bound in their network namespace;
 *   <li>{@code workload_manager_pending_proxy_count}: pods handed over and not served yet (not in
 *       the configuration yet, or a bind being retried);
 *   <li>{@code workload_manager_proxies_started_total} / {@code _stopped_total}: pods that began /
 *       stopped being served.
 * </ul>
 *
 * Registered in every ztunnel (0 outside in-pod mode), so that dashboards find the series.
 */
public final class WorkloadManagerMetrics {
  private final AtomicInteger active = new AtomicInteger();
  private final AtomicInteger pending = new AtomicInteger();
  private final Counter started;
  private final Counter stopped;

  public WorkloadManagerMetrics(MeterRegistry registry) {
    Gauge.builder("workload_manager_active_proxy_count", active, AtomicInteger::get)
        .description("pods whose in-pod listeners are bound").strongReference(true)
        .register(registry);
    Gauge.builder("workload_manager_pending_proxy_count", pending, AtomicInteger::get)
        .description("pods handed over by the node agent and not served yet")
        .strongReference(true).register(registry);
    started = Counter.builder("workload_manager_proxies_started")
        .description("pods that began being served in-pod").register(registry);
    stopped = Counter.builder("workload_manager_proxies_stopped")
        .description("pods that stopped being served in-pod").register(registry);
  }

  /** The current counts. */
  public void set(int activeProxies, int pendingProxies) {
    active.set(activeProxies);
    pending.set(pendingProxies);
  }

  public void started() {
    started.increment();
  }

  public void stopped() {
    stopped.increment();
  }

  public int active() {
    return active.get();
  }

  public int pending() {
    return pending.get();
  }
}
