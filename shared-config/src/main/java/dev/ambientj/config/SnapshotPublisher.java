package dev.ambientj.config;

import dev.ambientj.config.model.MeshSnapshot;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Holds the current {@link MeshSnapshot} and tells listeners about new ones.
 *
 * <p>Readers call {@link #snapshot()} (one volatile read, no lock). Publishing sets the reference,
 * then calls each listener in subscription order on the publishing thread. A listener that throws
 * is logged and does not stop the others. Publishes are serialised, so a listener sees snapshots in
 * publish order and never two at once; a new subscriber gets the current snapshot first.
 *
 * <p>Every snapshot's rejections go through {@link #rejections()} before the listeners run, so
 * every process (ztunnel, waypoint, config server) logs and counts them the same way whatever the
 * source.
 */
public final class SnapshotPublisher {
  private static final Logger log = LoggerFactory.getLogger(SnapshotPublisher.class);

  private final AtomicReference<MeshSnapshot> current = new AtomicReference<>(MeshSnapshot.empty());
  private final CopyOnWriteArrayList<SnapshotListener> listeners = new CopyOnWriteArrayList<>();
  private final Object publishLock = new Object();
  private final ConfigRejections rejections = new ConfigRejections();
  private final dev.ambientj.config.xds.XdsClientStats xdsClient =
      new dev.ambientj.config.xds.XdsClientStats();

  /** The current snapshot; {@link MeshSnapshot#empty()} before the first publish. Never null. */
  public MeshSnapshot snapshot() {
    return current.get();
  }

  /** What an xDS client feeding this publisher counts about its stream (nothing for files). */
  public dev.ambientj.config.xds.XdsClientStats xdsClient() {
    return xdsClient;
  }

  /** What the current configuration refused, as logged and counted. */
  public ConfigRejections rejections() {
    return rejections;
  }

  /** Makes {@code snapshot} current and notifies every listener. */
  public void publish(MeshSnapshot snapshot) {
    Objects.requireNonNull(snapshot, "snapshot");
    synchronized (publishLock) {
      current.set(snapshot);
      rejections.update(snapshot);
      for (SnapshotListener l : listeners) {
        try {
          l.onSnapshot(snapshot);
        } catch (RuntimeException e) {
          log.warn("snapshot listener {} failed on version {}", l, snapshot.version(), e);
        }
      }
    }
  }

  /** Tells every listener that a source failed transiently; the current snapshot stays. */
  public void reportTransientError(String message) {
    synchronized (publishLock) {
      for (SnapshotListener l : listeners) {
        try {
          l.onTransientError(message);
        } catch (RuntimeException e) {
          log.warn("snapshot listener {} failed on a transient error", l, e);
        }
      }
    }
  }

  /**
   * Calls {@code listener} with the current snapshot now, then on every publish until the returned
   * handle is closed.
   */
  public AutoCloseable subscribe(SnapshotListener listener) {
    Objects.requireNonNull(listener, "listener");
    synchronized (publishLock) {
      listeners.add(listener);
      try {
        listener.onSnapshot(current.get());
      } catch (RuntimeException e) {
        log.warn("snapshot listener {} failed on subscription", listener, e);
      }
    }
    return () -> listeners.remove(listener);
  }
}
