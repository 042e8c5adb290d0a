package dev.ambientj.config.xds;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BiConsumer;

/**
 * What a proxy's xDS client counts about its stream to the config server, as Istio's ztunnel does
 * ({@code istio_xds_connection_terminations_total{reason}}, {@code istio_xds_message_total{url}};
 * bound to a registry by {@link dev.ambientj.config.XdsClientMetrics}): streams that ended, by
 * reason, and responses received, by type URL. Kept by the {@link
 * dev.ambientj.config.SnapshotPublisher} the client feeds, so the proxy that owns the publisher
 * exports them without knowing which source it has. Thread-safe.
 */
public final class XdsClientStats {
  /** Why a stream ended, with ztunnel's label values. */
  public enum Termination {
    /** The connection could not be made, or was lost (gRPC UNAVAILABLE). */
    ConnectionError,
    /** The server ended the stream with another error status. */
    Error,
    /** The client ended it to connect again. */
    Reconnect,
    /** The server closed the stream normally. */
    Complete
  }

  private final Map<String, LongAdder> terminations = new ConcurrentHashMap<>();
  private final Map<String, LongAdder> messages = new ConcurrentHashMap<>();
  private final CopyOnWriteArrayList<BiConsumer<String, String>> watchers =
      new CopyOnWriteArrayList<>();

  public void terminated(Termination reason) {
    count(terminations, "reason", reason.name());
  }

  /** A response of {@code typeUrl} arrived. */
  public void received(String typeUrl) {
    count(messages, "url", typeUrl);
  }

  /** Stream terminations so far by reason. */
  public Map<String, LongAdder> terminations() {
    return terminations;
  }

  /** Responses received so far by type URL. */
  public Map<String, LongAdder> messages() {
    return messages;
  }

  /**
   * Calls {@code onNewKey(label, value)} for every key counted so far and every new one from now
   * on ({@code label} is {@code reason} or {@code url}), until the returned handle is closed; how
   * a registry learns of new series.
   */
  public AutoCloseable watch(BiConsumer<String, String> onNewKey) {
    watchers.add(onNewKey);
    terminations.keySet().forEach(k -> onNewKey.accept("reason", k));
    messages.keySet().forEach(k -> onNewKey.accept("url", k));
    return () -> watchers.remove(onNewKey);
  }

  private void count(Map<String, LongAdder> counts, String label, String key) {
    LongAdder n = counts.get(key);
    if (n == null) {
      LongAdder created = new LongAdder();
      n = counts.putIfAbsent(key, created);
      if (n == null) {
        n = created;
        for (BiConsumer<String, String> w : watchers) {
          w.accept(label, key);
        }
      }
    }
    n.increment();
  }
}
