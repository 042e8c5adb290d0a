package dev.ambientj.ztunnel.authz;

import dev.ambientj.config.authz.AuthzVerdict;
import dev.ambientj.config.authz.MtlsMode;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Workload;
import dev.ambientj.ztunnel.proxy.InboundConnections;
import dev.ambientj.ztunnel.telemetry.TrafficMetrics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Re-authorizes every tracked inbound connection when a snapshot arrives (ztunnel's
 * {@code PolicyWatcher}): those now denied — by an AuthorizationPolicy, by STRICT
 * PeerAuthentication for plaintext, or because their workload left — are closed with
 * {@value TrackedConnection#POLICY_CHANGE}. Evaluation runs on the caller's thread (the snapshot
 * listener, never an event loop); closing happens on each connection's event loop.
 */
public final class PolicyWatcher {
  private static final Logger log = LoggerFactory.getLogger(PolicyWatcher.class);

  private final InboundConnections connections;
  private final PolicyStates policies;
  private final TrafficMetrics metrics;

  public PolicyWatcher(InboundConnections connections, PolicyStates policies,
      TrafficMetrics metrics) {
    this.connections = connections;
    this.policies = policies;
    this.metrics = metrics;
  }

  /** Checks every live connection against {@code snapshot}; returns how many were closed. */
  public int recheck(MeshSnapshot snapshot) {
    PolicyState state = policies.forSnapshot(snapshot);
    int closed = 0;
    for (TrackedConnection c : connections.tracked()) {
      Workload local = snapshot.findWorkloadByUid(c.localUid()).orElse(null);
      String policy = null;
      boolean deny;
      if (local == null) {
        deny = false; // the listener drain handles a workload that left
      } else if (c.plaintext()
          && state.mtlsMode(local, c.request().destinationPort()) == MtlsMode.STRICT) {
        deny = true;
        policy = "PeerAuthentication STRICT";
      } else {
        AuthzVerdict v = state.check(local, c.request());
        deny = !v.allowed();
        policy = v.policy();
      }
      if (deny) {
        closed++;
        metrics.authorization("deny", policy, "policy_change");
        log.debug("closing {} → {}: {}", c.request().sourcePrincipal(), c.request().destinationIp(),
            TrackedConnection.POLICY_CHANGE);
        c.closeForPolicy(TrackedConnection.POLICY_CHANGE, policy);
      }
    }
    return closed;
  }
}
