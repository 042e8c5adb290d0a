package dev.ambientj.ztunnel;

import dev.ambientj.config.SnapshotListener;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Workload;
import dev.ambientj.hbone.HboneServerConfig;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.hbone.identity.WorkloadCertificate;
import dev.ambientj.ztunnel.authz.PolicyWatcher;
import dev.ambientj.hbone.identity.CertificateManager;
import dev.ambientj.ztunnel.outbound.OutboundProxy;
import dev.ambientj.ztunnel.proxy.ProxyContext;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps one {@link WorkloadListeners} per workload scheduled on this node that the node serves
 * ({@link ListenerBinder#serves}: enrolled in the snapshot, or in-pod handed over by the node
 * agent), following the snapshots: a workload that appears gets its listeners (and its certificate is fetched ahead of
 * the first connection), one that leaves or changes address or identity is drained (and, if still
 * local, served again), one whose bind failed is retried on the next snapshot. Never throws into
 * the publisher.
 *
 * <p>Threading: snapshot callbacks come from the publisher's thread (serialised); readers of the
 * state ({@link #ready()}, the admin dump) take the same monitor briefly. Never called on an event
 * loop (closing waits for the listening sockets to close).
 */
final class ListenerManager implements SnapshotListener, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ListenerManager.class);

  private final ProxyContext ctx;
  private final HboneServerConfig hboneConfig;
  private final OutboundProxy outbound;
  private final PolicyWatcher policyWatcher;
  private final Map<String, WorkloadListeners> active = new LinkedHashMap<>();
  private final Map<SpiffeId, CompletableFuture<WorkloadCertificate>> certificates = new HashMap<>();
  private long configVersion;
  private boolean closed;

  ListenerManager(ProxyContext ctx, HboneServerConfig hboneConfig) {
    this.ctx = ctx;
    this.hboneConfig = hboneConfig;
    this.outbound = new OutboundProxy(ctx);
    this.policyWatcher = new PolicyWatcher(ctx.inboundConnections(), ctx.policyStates(),
        ctx.metrics());
  }

  @Override
  public synchronized void onSnapshot(MeshSnapshot snapshot) {
    if (closed) {
      return;
    }
    configVersion = snapshot.version();
    ctx.policyStates().update(snapshot); // compiled here, off the event loops
    Map<String, Workload> desired = new LinkedHashMap<>();
    for (Workload w : snapshot.findWorkloadsOnNode(ctx.node())) {
      InetAddress address = listenAddress(w);
      if (address != null && ctx.binder().serves(w)) {
        desired.putIfAbsent(key(w, address), w);
      }
    }
    List<String> gone = new ArrayList<>();
    for (Map.Entry<String, WorkloadListeners> e : active.entrySet()) {
      if (!desired.containsKey(e.getKey()) || e.getValue().failed()) {
        gone.add(e.getKey());
      }
    }
    for (String key : gone) {
      WorkloadListeners l = active.remove(key);
      if (!l.failed()) {
        log.info("workload {} left node {}: draining its listeners", l, ctx.node());
      }
      l.close();
    }
    for (Map.Entry<String, Workload> e : desired.entrySet()) {
      if (active.containsKey(e.getKey())) {
        continue;
      }
      Workload w = e.getValue();
      try {
        SpiffeId id = SpiffeId.parse(w.spiffeId());
        certificates.computeIfAbsent(id, this::fetch);
        WorkloadListeners l = new WorkloadListeners(ctx, hboneConfig, outbound, w, listenAddress(w));
        active.put(e.getKey(), l);
        l.open();
        log.info("serving workload {}/{} ({}) on {}", w.namespace(), w.name(), id,
            listenAddress(w).getHostAddress());
      } catch (RuntimeException ex) {
        log.warn("cannot serve workload {}/{}: {}", w.namespace(), w.name(), ex.toString());
      }
    }
    forgetCertificates(desired.values());
    int closed = policyWatcher.recheck(snapshot);
    if (closed > 0) {
      log.info("closed {} inbound connections denied by the new policy (version {})", closed,
          snapshot.version());
    }
  }

  /** Drops the certificates of identities with no workload left on this node. */
  private void forgetCertificates(java.util.Collection<Workload> local) {
    java.util.Set<SpiffeId> keep = new java.util.HashSet<>();
    for (Workload w : local) {
      try {
        keep.add(SpiffeId.parse(w.spiffeId()));
      } catch (RuntimeException ignored) {
        // not served either
      }
    }
    certificates.keySet().retainAll(keep);
    if (ctx.identities() instanceof CertificateManager manager) {
      manager.retainOnly(keep);
    }
  }

  /** Re-binds workloads whose bind failed (in-pod mode retries them every few seconds, as ztunnel). */
  void retryFailed() {
    boolean any;
    synchronized (this) {
      any = active.values().stream().anyMatch(WorkloadListeners::failed);
    }
    if (any) {
      try {
        refresh();
      } catch (RuntimeException e) { // keep the periodic retry alive
        log.warn("retrying failed listeners: {}", e.toString());
      }
    }
  }

  /** Applies the current snapshot again: the set of servable workloads changed (in-pod mode). */
  void refresh() {
    onSnapshot(ctx.snapshot());
  }

  /**
   * The bind outcome of the served workload matching {@code match}: completes when all its
   * listeners are bound (true) or a bind failed (false); null if no such workload is served.
   */
  synchronized CompletableFuture<Boolean> findBound(java.util.function.Predicate<Workload> match) {
    for (WorkloadListeners l : active.values()) {
      if (match.test(l.workload())) {
        return l.opened();
      }
    }
    return null;
  }

  @Override
  public void onTransientError(String message) {
    log.warn("configuration source error, keeping the current configuration: {}", message);
  }

  private CompletableFuture<WorkloadCertificate> fetch(SpiffeId id) {
    CompletableFuture<WorkloadCertificate> f = ctx.identities().fetchCertificate(id);
    f.whenComplete((c, e) -> {
      if (e != null) {
        log.warn("cannot get a certificate for {}: {}", id, ProxyContext.describe(e));
      }
    });
    return f;
  }

  /** Ready once a configuration was loaded, every listener bind settled and certificates are in. */
  boolean ready() {
    return notReadyReason() == null;
  }

  /**
   * Why this ztunnel is not ready, for the readiness answer, or null when it is: configuration or
   * node agent pending, a listener not bound, or a local identity without a valid certificate now
   * (not issued yet, the CA failing, or expired while the CA is down — named, with the error).
   */
  synchronized String notReadyReason() {
    if (configVersion <= 0) {
      return "no configuration yet";
    }
    if (!ctx.binder().ready()) {
      return "the node agent's snapshot is pending (" + ctx.binder() + ")";
    }
    for (WorkloadListeners l : active.values()) {
      if (!l.settled()) {
        return "listeners of " + l + " not bound yet";
      }
      SpiffeId id = SpiffeId.parse(l.workload().spiffeId());
      if (!certificates.containsKey(id)) {
        return "no certificate requested for " + id;
      }
      CompletableFuture<WorkloadCertificate> c = ctx.identities().fetchCertificate(id);
      if (!c.isDone()) {
        return "waiting for the certificate of " + id;
      }
      if (c.isCompletedExceptionally()) {
        return ProxyContext.describe(c.exceptionNow());
      }
    }
    return null;
  }

  /** Workloads served now, in order of arrival. */
  synchronized List<WorkloadListeners> listeners() {
    return List.copyOf(active.values());
  }

  /** The certificates of local identities, by identity: the current one once the first arrived. */
  synchronized Map<SpiffeId, CompletableFuture<WorkloadCertificate>> certificates() {
    Map<SpiffeId, CompletableFuture<WorkloadCertificate>> now = new HashMap<>();
    certificates.forEach((id, first) -> now.put(id,
        first.isDone() && !first.isCompletedExceptionally()
            ? ctx.identities().fetchCertificate(id) : first)); // renewed since: show the current
    return Map.copyOf(now);
  }

  @Override
  public void close() {
    List<WorkloadListeners> all;
    synchronized (this) {
      closed = true;
      all = List.copyOf(active.values());
      active.clear();
    }
    for (WorkloadListeners l : all) {
      l.close();
    }
  }

  /** Listeners are replaced when any of these change: the HBONE server serves the identity. */
  private String key(Workload w, InetAddress address) {
    // in a pod's own namespace the listeners are on the wildcard address: its IP changes nothing
    return w.uid() + "|" + (inPod() ? "in-pod" : address.getHostAddress()) + "|" + w.spiffeId();
  }

  private boolean inPod() {
    return ctx.binder() instanceof dev.ambientj.ztunnel.inpod.InPodListenerBinder;
  }

  /**
   * The workload's address, or in in-pod mode the IPv4 wildcard while it has none: a new pod's IP
   * reaches the API only after its CNI ADD, and the ADD waits for these listeners (the node agent
   * hands the pod over first, as with Istio's ztunnel).
   */
  private InetAddress listenAddress(Workload w) {
    InetAddress a = primaryAddress(w);
    return a == null && inPod() ? InetAddress.ofLiteral("0.0.0.0") : a;
  }

  static InetAddress primaryAddress(Workload w) {
    for (InetAddress a : w.addresses()) {
      if (a instanceof Inet4Address) {
        return a;
      }
    }
    return w.addresses().isEmpty() ? null : w.addresses().get(0);
  }
}
