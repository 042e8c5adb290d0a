package dev.ambientj.ztunnel.authz;

import dev.ambientj.config.authz.AuthorizationEngine;
import dev.ambientj.config.authz.AuthzRequest;
import dev.ambientj.config.authz.AuthzVerdict;
import dev.ambientj.config.authz.MtlsMode;
import dev.ambientj.config.authz.PeerAuthentications;
import dev.ambientj.config.authz.WorkloadAuthorizer;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Workload;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The inbound policy of one snapshot, compiled: AuthorizationPolicies (L4, ztunnel semantics) and
 * PeerAuthentications. Immutable apart from a memo of per-workload authorizers, which are pure
 * functions of the snapshot (so a race computes the same value twice, harmlessly).
 */
public final class PolicyState {
  private final MeshSnapshot snapshot;
  private final AuthorizationEngine engine;
  private final PeerAuthentications peerAuthentications;
  private final Map<String, WorkloadAuthorizer> byUid = new ConcurrentHashMap<>();

  PolicyState(MeshSnapshot snapshot, String rootNamespace) {
    this.snapshot = snapshot;
    this.engine = AuthorizationEngine.compile(snapshot.policies().authorizationPolicies(),
        rootNamespace, dev.ambientj.config.authz.EnforcementPoint.ZTUNNEL);
    this.peerAuthentications = PeerAuthentications.compile(
        snapshot.policies().peerAuthentications(), rootNamespace);
  }

  public MeshSnapshot snapshot() {
    return snapshot;
  }

  public AuthorizationEngine engine() {
    return engine;
  }

  /** RBAC for a connection to {@code local} (ISTIO-FACTS §4 step 5). */
  public AuthzVerdict check(Workload local, AuthzRequest request) {
    return byUid.computeIfAbsent(local.uid(),
        uid -> engine.forWorkload(local.namespace(), local.labels())).check(request);
  }

  /** The PeerAuthentication mode for {@code local}'s target port. */
  public MtlsMode mtlsMode(Workload local, int targetPort) {
    return peerAuthentications.mode(local.namespace(), local.labels(), targetPort);
  }
}
