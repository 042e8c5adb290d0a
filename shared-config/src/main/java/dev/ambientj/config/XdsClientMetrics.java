package dev.ambientj.config;

import dev.ambientj.config.xds.XdsClientStats;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.concurrent.atomic.LongAdder;

/**
 * The xDS client's counts ({@link XdsClientStats}, kept by the proxy's publisher) in a registry,
 * under Istio ztunnel's names:
 *
 * <ul>
 *   <li>{@value #TERMINATIONS} (Prometheus {@code istio_xds_connection_terminations_total}, tag
 *       {@code reason}: ConnectionError|Error|Reconnect|Complete);
 *   <li>{@value #MESSAGES} (Prometheus {@code istio_xds_message_total}, tag {@code url}: the
 *       response's type URL).
 * </ul>
 *
 * Both are absent until the first count (a proxy fed from files has none).
 */
public final class XdsClientMetrics {
  public static final String TERMINATIONS = "istio.xds.connection.terminations";
  public static final String MESSAGES = "istio.xds.message";

  private XdsClientMetrics() {}

  /**
   * Registers the counters of {@code publisher}'s xDS client in {@code registry}, now and as they
   * appear, until the returned handle is closed.
   */
  public static AutoCloseable bind(MeterRegistry registry, SnapshotPublisher publisher) {
    XdsClientStats stats = publisher.xdsClient();
    return stats.watch((label, key) -> {
      boolean reason = label.equals("reason");
      LongAdder n = (reason ? stats.terminations() : stats.messages()).get(key);
      FunctionCounter.builder(reason ? TERMINATIONS : MESSAGES, n, LongAdder::sum)
          .description(reason ? "xDS streams to the config server that ended, by reason"
              : "xDS responses received, by type URL")
          .tag(label, key)
          .register(registry);
    });
  }
}
