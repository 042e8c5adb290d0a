package dev.ambientj.config;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import java.util.ArrayList;
import java.util.List;

/**
 * The rejection metrics every proxy exposes, from its publisher's {@link ConfigRejections}:
 *
 * <ul>
 *   <li>{@value #CURRENT} (gauge, tag {@code kind}): the rejections in force now — 0 once a kind's
 *       last one is fixed;
 *   <li>{@value #TOTAL} (counter, Prometheus {@code ambientj_config_rejected_total}, tag {@code
 *       kind}): rejections that appeared since start.
 * </ul>
 *
 * <p>{@code kind} is the object's kind, or {@code File} for a file that could not be used.
 */
public final class ConfigRejectionMetrics {
  /** Gauge name (Prometheus {@code ambientj_config_rejections}). */
  public static final String CURRENT = "ambientj.config.rejections";

  /** Counter name (Prometheus {@code ambientj_config_rejected_total}). */
  public static final String TOTAL = "ambientj.config.rejected";

  private ConfigRejectionMetrics() {}

  /**
   * Registers the metrics in {@code registry} and keeps them current until the returned handle is
   * closed.
   */
  public static AutoCloseable bind(MeterRegistry registry, SnapshotPublisher publisher) {
    ConfigRejections rejections = publisher.rejections();
    MultiGauge current = MultiGauge.builder(CURRENT)
        .description("Configuration rejections in force: objects, documents, files or xDS"
            + " resources refused, the previous version kept (ambientj)")
        .register(registry);
    return publisher.subscribe(snapshot -> {
      List<MultiGauge.Row<?>> rows = new ArrayList<>();
      rejections.currentByKind().forEach((kind, n) -> {
        rows.add(MultiGauge.Row.of(Tags.of("kind", kind), n));
        FunctionCounter.builder(TOTAL, rejections, r -> r.totalByKind().getOrDefault(kind, 0L))
            .description("Configuration rejections reported since start (ambientj)")
            .tags("kind", kind)
            .register(registry);
      });
      current.register(rows, true);
    });
  }
}
