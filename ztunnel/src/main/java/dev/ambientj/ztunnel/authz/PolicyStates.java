package dev.ambientj.ztunnel.authz;

import dev.ambientj.config.authz.AuthorizationEngine;
import dev.ambientj.config.model.MeshSnapshot;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes the {@link PolicyState} of the current snapshot through an {@link AtomicReference}.
 * The snapshot listener compiles it off the event loops ({@link #update}); a connection that sees a
 * snapshot before the listener ran compiles it itself (once, small) rather than use stale policy.
 * Problems (CUSTOM, L7 rules at ztunnel) are logged once each.
 */
public final class PolicyStates {
  private static final Logger log = LoggerFactory.getLogger(PolicyStates.class);

  private final String rootNamespace;
  private final AtomicReference<PolicyState> current = new AtomicReference<>();
  private final Set<String> logged = java.util.concurrent.ConcurrentHashMap.newKeySet();

  public PolicyStates() {
    this(AuthorizationEngine.DEFAULT_ROOT_NAMESPACE);
  }

  public PolicyStates(String rootNamespace) {
    this.rootNamespace = rootNamespace;
  }

  /** The compiled policy of {@code snapshot} (normally already published by {@link #update}). */
  public PolicyState forSnapshot(MeshSnapshot snapshot) {
    PolicyState s = current.get();
    if (s != null && s.snapshot() == snapshot) {
      return s;
    }
    return update(snapshot);
  }

  /** Compiles and publishes {@code snapshot}'s policy; call from the snapshot listener. */
  public PolicyState update(MeshSnapshot snapshot) {
    PolicyState fresh = new PolicyState(snapshot, rootNamespace);
    PolicyState prev = current.get();
    if (prev == null || prev.snapshot().version() <= snapshot.version()) {
      current.compareAndSet(prev, fresh);
    }
    List<String> problems = fresh.engine().problems();
    Set<String> now = new HashSet<>(problems);
    for (String p : problems) {
      if (logged.add(p)) {
        log.warn("authorization: {}", p);
      }
    }
    logged.retainAll(now);
    return fresh;
  }
}
