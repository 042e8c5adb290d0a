package dev.ambientj.config;

import dev.ambientj.config.model.MeshSnapshot;

/**
 * Receives snapshots from a {@link SnapshotPublisher}. Called on the publisher's thread: return
 * quickly.
 */
public interface SnapshotListener {
  /** The configuration changed: {@code snapshot} replaces every earlier one. */
  void onSnapshot(MeshSnapshot snapshot);

  /** A source could not refresh (e.g. a file is unreadable); keep using the current snapshot. */
  default void onTransientError(String message) {}
}
