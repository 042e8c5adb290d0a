package dev.ambientj.config.xds;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.ambientj.config.SnapshotListener;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.ca.BearerAuthentication;
import dev.ambientj.config.ca.Caller;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.WaypointRef;
import dev.ambientj.config.model.Workload;
import dev.ambientj.config.proto.security.Authorization;
import dev.ambientj.config.proto.security.Scope;
import dev.ambientj.config.proto.workload.Address;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.envoyproxy.envoy.service.discovery.v3.Resource;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The config server's delta ADS ({@code envoy.service.discovery.v3.AggregatedDiscoveryService/
 * DeltaAggregatedResources}) for the {@link TypeUrls} types.
 *
 * <p><b>Lifecycle.</b> Listens to a {@link SnapshotPublisher}; a new snapshot is encoded once
 * ({@link WdsEncoder}) — at once when nothing was pushed within {@link Builder#debounce} (default
 * 100 ms), else at the end of that window, so a burst of changes costs at most one push per
 * window — then every stream gets the difference from what it has
 * acknowledged. {@link #close} stops the debounce thread and ends every stream with UNAVAILABLE;
 * a stream opened after it (the gRPC server may still be draining) is ended at once, so that no
 * client is served a snapshot that no longer follows changes.
 *
 * <p><b>Per stream.</b> Per type: wildcard or the names subscribed, the versions the client has
 * ACKed, and at most one response in flight (its nonce). A change while a response is in flight is
 * sent after its ACK/NACK. A NACK keeps the client's previous versions (what it ACKed last), is
 * logged, counted ({@link #nackCount()}) and kept for config dumps ({@link #recentNacks()}). On
 * reconnect the client's {@code initial_resource_versions} are taken as acknowledged, so only what
 * changed meanwhile (and the removals) is sent. The first response of every subscribed type is sent
 * even when empty: it tells the client its set is complete.
 *
 * <p><b>Scoping.</b> Every stream gets every Address and MeshNode: a proxy may connect to any
 * workload or service. A ztunnel (id {@code ztunnel~…}) gets the PeerAuthentications among the
 * MeshObjects and, when its node is known (the node its credential proves — node token or bound service-account token —
 * else metadata {@code NODE_NAME}, else the node of the pod named in its id), only the
 * Authorization resources that apply to workloads on its node: GLOBAL ones, NAMESPACE ones of
 * their namespaces, WORKLOAD_SELECTOR ones they list (all of them when the node is unknown). A
 * waypoint (id {@code waypoint~…}) gets no Authorization and only the MeshObjects of the services
 * bound to its Gateway ({@link WaypointScope}: their routes, the DestinationRules of the routes'
 * destinations, the AuthorizationPolicies and rate limits it enforces for them). Any other proxy
 * type gets every MeshObject. Scopes are computed once per snapshot and scope, not per stream;
 * a change outside a stream's scope leaves its set unchanged, so nothing is sent to it.
 *
 * <p><b>Threading.</b> Requests arrive on gRPC's executor, pushes run on the debounce thread; a
 * stream's state and its {@code onNext} calls are guarded by the stream's monitor. Flow control is
 * left to gRPC's buffering: responses are small and at most one per type is in flight.
 *
 * <p>State-of-the-world ADS ({@code StreamAggregatedResources}) is refused with UNIMPLEMENTED.
 */
public final class XdsServer extends AggregatedDiscoveryServiceGrpc.AggregatedDiscoveryServiceImplBase
    implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(XdsServer.class);
  private static final int RECENT_NACKS = 32;

  /** A NACK received from a client, as kept for config dumps. */
  public record Nack(Instant at, String nodeId, String typeUrl, String nonce, String message) {}

  /**
   * One snapshot's resources, encoded once for every stream. {@code versions} (type → name →
   * version, immutable) is hashed here, once per push, rather than per stream; {@code changes}
   * (type → what differs from each of the last {@value #DELTA_HISTORY} Computeds' {@code
   * versions}, oldest first) lets a stream that holds exactly one of those sets be answered without
   * walking the whole set. With 10,000 workloads and 200 streams, per-stream hashing and walking
   * cost seconds per change; with 5,000 and a churn of pods, most streams' ACKs lag more than one
   * push, so one previous set was not enough. {@code scopes} memoizes
   * the subsets of {@code resources} computed for one scope (a ztunnel's node, a waypoint's
   * Gateway), filled on first use by any stream of that scope.
   */
  private record Computed(MeshSnapshot snapshot, XdsResources resources,
      Map<String, Authorization> authorizations, Map<String, Map<String, String>> versions,
      Map<String, List<Delta>> changes, String version, Map<Scoped, Map<String, Any>> scopes) {}

  /**
   * How many Computeds back a stream's acknowledged set is still answered from the differences
   * (a stream whose ACK lags a few pushes, e.g. during churn); older ones are compared whole.
   */
  private static final int DELTA_HISTORY = 8;

  /** The key of a memoized subset: a type and who it is for (a node name, a WaypointRef). */
  private record Scoped(String type, Object scope) {}

  /**
   * What changed in one type between two Computeds.
   *
   * @param from the earlier Computed's versions map (compared by identity with a stream's acked)
   * @param changed names added or with a new version
   * @param removed names gone
   */
  private record Delta(Map<String, String> from, List<String> changed, List<String> removed) {}

  private final WdsEncoder encoder;
  private final Duration debounce;
  private final ScheduledExecutorService timer;
  private final AutoCloseable subscription;
  private final Set<Stream> streams = ConcurrentHashMap.newKeySet();
  private final AtomicLong nacks = new AtomicLong();
  private final AtomicLong pushes = new AtomicLong();
  private final Deque<Nack> recentNacks = new ArrayDeque<>();
  private final AtomicLong nonces = new AtomicLong();
  private final Object debounceLock = new Object();
  private volatile Computed current;
  private volatile boolean closed;
  private MeshSnapshot latest;
  private ScheduledFuture<?> pending;
  /** When the last push started ({@link System#nanoTime}); guarded by {@code debounceLock}. */
  private long lastPushNanos = System.nanoTime() - TimeUnit.DAYS.toNanos(1);

  private XdsServer(SnapshotPublisher snapshots, WdsEncoder encoder, Duration debounce) {
    this.encoder = encoder;
    this.debounce = debounce;
    this.timer = Executors.newSingleThreadScheduledExecutor(
        Thread.ofPlatform().daemon().name("xds-push").factory());
    this.current = compute(snapshots.snapshot(), null);
    this.subscription = snapshots.subscribe(new SnapshotListener() {
      @Override
      public void onSnapshot(MeshSnapshot s) {
        changed(s);
      }
    });
  }

  public static Builder builder(SnapshotPublisher snapshots) {
    return new Builder(snapshots);
  }

  /** How many NACKs clients have sent since start. */
  public long nackCount() {
    return nacks.get();
  }

  /** How many responses were sent since start. */
  public long pushCount() {
    return pushes.get();
  }

  /** The last NACKs (newest last), with their error detail. */
  public List<Nack> recentNacks() {
    synchronized (recentNacks) {
      return List.copyOf(recentNacks);
    }
  }

  /** The snapshot version the streams are being served. */
  public long servedVersion() {
    return current.snapshot().version();
  }

  private void changed(MeshSnapshot s) {
    synchronized (debounceLock) {
      latest = s;
      if (current != null && s == current.snapshot()) {
        return;
      }
      if (pending == null) {
        // Leading edge: a change after a quiet period goes out at once; changes within the
        // debounce window after a push wait for the window's end and go out together.
        long sinceLastPush = System.nanoTime() - lastPushNanos;
        long delay = Math.max(0, debounce.toNanos() - sinceLastPush);
        pending = timer.schedule(this::pushLatest, delay, TimeUnit.NANOSECONDS);
      }
    }
  }

  private void pushLatest() {
    MeshSnapshot s;
    synchronized (debounceLock) {
      s = latest;
      pending = null;
      lastPushNanos = System.nanoTime();
    }
    try {
      current = compute(s, current);
      for (Stream st : streams) {
        st.pushAll();
      }
    } catch (RuntimeException e) {
      log.error("xDS push of snapshot version {} failed", s.version(), e);
    }
  }

  private Computed compute(MeshSnapshot s, Computed previous) {
    XdsResources r = encoder.encode(s);
    Map<String, Authorization> authz = new HashMap<>();
    for (var e : r.of(TypeUrls.AUTHORIZATION).entrySet()) {
      try {
        authz.put(e.getKey(), e.getValue().unpack(Authorization.class));
      } catch (InvalidProtocolBufferException ex) {
        throw new IllegalStateException(ex);
      }
    }
    Map<String, Map<String, String>> versions = new HashMap<>();
    Map<String, List<Delta>> changes = new HashMap<>();
    for (String type : TypeUrls.ALL) {
      Map<String, String> ofType = new HashMap<>();
      r.of(type).forEach((name, any) -> ofType.put(name, XdsResources.versionOf(any)));
      Map<String, String> now = Map.copyOf(ofType);
      versions.put(type, now);
      if (previous != null) {
        Map<String, String> before = previous.versions().get(type);
        List<String> changed = new ArrayList<>();
        now.forEach((name, v) -> {
          if (!v.equals(before.get(name))) {
            changed.add(name);
          }
        });
        List<String> removed = new ArrayList<>();
        for (String name : before.keySet()) {
          if (!now.containsKey(name)) {
            removed.add(name);
          }
        }
        List<Delta> history = new ArrayList<>(previous.changes().getOrDefault(type, List.of()));
        if (history.size() == DELTA_HISTORY) {
          history.removeFirst();
        }
        history.add(new Delta(before, List.copyOf(changed), List.copyOf(removed)));
        changes.put(type, List.copyOf(history));
      }
    }
    return new Computed(s, r, authz, Map.copyOf(versions), Map.copyOf(changes),
        Long.toString(s.version()), new ConcurrentHashMap<>());
  }

  @Override
  public StreamObserver<DiscoveryRequest> streamAggregatedResources(
      StreamObserver<DiscoveryResponse> responses) {
    responses.onError(Status.UNIMPLEMENTED
        .withDescription("this server speaks delta ADS only (DeltaAggregatedResources)")
        .asRuntimeException());
    return new StreamObserver<>() {
      @Override
      public void onNext(DiscoveryRequest value) {}

      @Override
      public void onError(Throwable t) {}

      @Override
      public void onCompleted() {}
    };
  }

  @Override
  public StreamObserver<DeltaDiscoveryRequest> deltaAggregatedResources(
      StreamObserver<DeltaDiscoveryResponse> responses) {
    // The node a node agent's credential proves (node token, or a ztunnel's bound token).
    Stream s = new Stream(responses, BearerAuthentication.caller().filter(Caller::nodeAgent)
        .map(Caller::node).orElse(""));
    if (closed) {
      // Between close() and the gRPC server's own shutdown, a reconnecting client would otherwise
      // be served the last snapshot by a server that no longer follows changes.
      s.shutdown();
      return s;
    }
    streams.add(s);
    if (closed) {
      s.shutdown(); // close() ran between the check and the add
    }
    return s;
  }

  /**
   * Stops pushing and ends every stream with UNAVAILABLE (clients reconnect with backoff), so that
   * the gRPC server can stop without waiting for these endless calls.
   */
  @Override
  public void close() {
    closed = true;
    try {
      subscription.close();
    } catch (Exception e) {
      log.debug("unsubscribing", e);
    }
    timer.shutdownNow();
    for (Stream s : List.copyOf(streams)) {
      s.shutdown();
    }
  }

  /** One client stream. Guarded by its own monitor. */
  private final class Stream implements StreamObserver<DeltaDiscoveryRequest> {
    private final StreamObserver<DeltaDiscoveryResponse> out;
    private final String tokenNode;
    private ProxyNode node = new ProxyNode("", "", "", "", "", "");
    private final Instant connectedAt = Instant.now();
    private final Map<String, TypeState> types = new LinkedHashMap<>();
    private boolean closed;

    Stream(StreamObserver<DeltaDiscoveryResponse> out, String tokenNode) {
      this.out = out;
      this.tokenNode = tokenNode;
    }

    @Override
    public void onNext(DeltaDiscoveryRequest req) {
      if (req.getTypeUrl().equals(TypeUrls.DEBUG_SYNCZ)) {
        answerSyncz(); // reads every stream's state: not under this stream's lock
        return;
      }
      onConfigRequest(req);
    }

    /** A debug client's question: the sync state of every proxy, in one response. */
    private void answerSyncz() {
      DeltaDiscoveryResponse.Builder r = DeltaDiscoveryResponse.newBuilder()
          .setTypeUrl(TypeUrls.DEBUG_SYNCZ).setSystemVersionInfo(current.version());
      for (ProxySyncStatus p : syncStatus()) {
        r.addResources(Resource.newBuilder().setName(p.id()).setVersion(p.version())
            .setResource(Any.pack(p.toStruct())));
      }
      synchronized (this) {
        if (closed) {
          return;
        }
        r.setNonce(Long.toString(nonces.incrementAndGet()));
        try {
          out.onNext(r.build());
        } catch (RuntimeException e) {
          end();
        }
      }
    }

    /** This proxy's state, or null for a stream that subscribed to no configuration. */
    synchronized ProxySyncStatus status(String currentVersion) {
      if (closed || types.isEmpty()) {
        return null;
      }
      Map<String, ProxySyncStatus.TypeStatus> byType = new LinkedHashMap<>();
      for (TypeState ts : types.values()) {
        byType.put(ts.type, new ProxySyncStatus.TypeStatus(ts.syncedVersion,
            ts.inFlightNonce == null ? null : ts.inFlightSnapshot, ts.nackMessage));
      }
      return ProxySyncStatus.of(node, connectedAt, currentVersion, byType);
    }

    private synchronized void onConfigRequest(DeltaDiscoveryRequest req) {
      if (closed) {
        return;
      }
      if (req.hasNode() && node.id().isEmpty()) {
        node = ProxyNode.of(req.getNode());
        if (!tokenNode.isEmpty()) {
          // The node a valid node token proves wins over the one the proxy declares.
          node = new ProxyNode(node.id(), node.type(), node.ip(), node.podName(),
              node.podNamespace(), tokenNode);
        }
        log.info("xDS stream from {} (node {})", node.id(),
            node.nodeName().isEmpty() ? "unknown" : node.nodeName());
      }
      String type = req.getTypeUrl();
      if (!TypeUrls.ALL.contains(type)) {
        log.info("xDS: {} asked for unknown type {}; ignored", node.id(), type);
        return;
      }
      TypeState ts = types.get(type);
      boolean first = ts == null;
      if (first) {
        ts = new TypeState(type);
        types.put(type, ts);
        ts.acked = Map.copyOf(req.getInitialResourceVersionsMap());
        ts.wildcard = req.getResourceNamesSubscribeCount() == 0;
      }
      for (String n : req.getResourceNamesSubscribeList()) {
        if (n.equals("*")) {
          ts.wildcard = true;
        } else {
          ts.names.add(n);
        }
      }
      for (String n : req.getResourceNamesUnsubscribeList()) {
        if (n.equals("*")) {
          ts.wildcard = false;
        } else {
          ts.names.remove(n);
          if (ts.acked.containsKey(n)) {
            Map<String, String> acked = new HashMap<>(ts.acked);
            acked.remove(n);
            ts.acked = Map.copyOf(acked);
          }
        }
      }
      if (!req.getResponseNonce().isEmpty()) {
        if (!req.getResponseNonce().equals(ts.inFlightNonce)) {
          return; // a reply to an older response; the current one is still awaited
        }
        if (req.hasErrorDetail()) {
          String msg = req.getErrorDetail().getMessage();
          nacks.incrementAndGet();
          synchronized (recentNacks) {
            if (recentNacks.size() == RECENT_NACKS) {
              recentNacks.removeFirst();
            }
            recentNacks.addLast(new Nack(Instant.now(), node.id(), type, ts.inFlightNonce, msg));
          }
          log.warn("xDS NACK from {} for {} (nonce {}): {}", node.id(), type, ts.inFlightNonce,
              msg);
          ts.nackMessage = msg;
        } else {
          ts.acked = ts.inFlightVersions;
          ts.syncedVersion = ts.inFlightSnapshot;
          ts.nackMessage = null;
        }
        ts.inFlightNonce = null;
        ts.inFlightVersions = Map.of();
        ts.nackedVersion = req.hasErrorDetail() ? current.version() : null;
      }
      push(ts, first || req.getResourceNamesSubscribeCount() > 0);
    }

    synchronized void pushAll() {
      if (closed) {
        return;
      }
      for (TypeState ts : types.values()) {
        push(ts, false);
      }
    }

    /** Sends what differs from the acked versions, if nothing is in flight. */
    private void push(TypeState ts, boolean force) {
      if (ts.inFlightNonce != null) {
        return;
      }
      Computed c = current;
      if (!force && !ts.firstSent) {
        force = true;
      }
      if (!force && c.version().equals(ts.nackedVersion)) {
        return; // the client refused this version; wait for the next one
      }
      Map<String, Any> want = scoped(ts.type, c);
      DeltaDiscoveryResponse.Builder r = DeltaDiscoveryResponse.newBuilder()
          .setTypeUrl(ts.type).setSystemVersionInfo(c.version());
      Map<String, String> versionOf = c.versions().getOrDefault(ts.type, Map.of());
      Map<String, String> versions;
      if (ts.wildcard && want == c.resources().of(ts.type)) {
        // The whole set: the stream will hold exactly the Computed's versions.
        versions = versionOf;
        List<Delta> history = c.changes().getOrDefault(ts.type, List.of());
        int since = history.size() - 1;
        while (since >= 0 && history.get(since).from() != ts.acked) {
          since--;
        }
        if (since >= 0) {
          // It holds exactly an earlier set: the precomputed differences since are the answer.
          Set<String> changed = new LinkedHashSet<>();
          Set<String> removed = new LinkedHashSet<>();
          for (Delta d : history.subList(since, history.size())) {
            changed.addAll(d.changed());
            removed.addAll(d.removed());
          }
          for (String name : changed) {
            String v = versionOf.get(name);
            if (v != null && !v.equals(ts.acked.get(name))) {
              r.addResources(Resource.newBuilder().setName(name).setVersion(v)
                  .setResource(want.get(name)));
            }
          }
          for (String name : removed) {
            if (!versionOf.containsKey(name) && ts.acked.containsKey(name)) {
              r.addRemovedResources(name);
            }
          }
        } else {
          for (var e : want.entrySet()) {
            String v = versionOf.get(e.getKey());
            if (!v.equals(ts.acked.get(e.getKey()))) {
              r.addResources(Resource.newBuilder().setName(e.getKey()).setVersion(v)
                  .setResource(e.getValue()));
            }
          }
          for (String had : ts.acked.keySet()) {
            if (!versionOf.containsKey(had)) {
              r.addRemovedResources(had);
            }
          }
        }
        send(ts, r, versions, force, c.version());
        return;
      }
      versions = new LinkedHashMap<>();
      for (var e : want.entrySet()) {
        if (!ts.wildcard && !ts.names.contains(e.getKey())) {
          continue;
        }
        // scoped() hands out the Computed's own resources, so their hashes are precomputed.
        String v = versionOf.get(e.getKey());
        if (v == null) {
          v = XdsResources.versionOf(e.getValue());
        }
        versions.put(e.getKey(), v);
        if (!v.equals(ts.acked.get(e.getKey()))) {
          r.addResources(Resource.newBuilder().setName(e.getKey()).setVersion(v)
              .setResource(e.getValue()));
        }
      }
      for (String had : ts.acked.keySet()) {
        if (!versions.containsKey(had)) {
          r.addRemovedResources(had);
        }
      }
      send(ts, r, Map.copyOf(versions), force, c.version());
    }

    /**
     * Sends {@code r} unless it is empty and not forced; {@code versions} is immutable; {@code
     * snapshotVersion} is the version of the snapshot {@code r} brings the client to.
     */
    private void send(TypeState ts, DeltaDiscoveryResponse.Builder r,
        Map<String, String> versions, boolean force, String snapshotVersion) {
      if (!force && r.getResourcesCount() == 0 && r.getRemovedResourcesCount() == 0) {
        if (ts.nackMessage == null) {
          ts.syncedVersion = snapshotVersion; // it holds everything of this snapshot already
        }
        return;
      }
      ts.inFlightSnapshot = snapshotVersion;
      String nonce = Long.toString(nonces.incrementAndGet());
      r.setNonce(nonce);
      ts.inFlightNonce = nonce;
      ts.inFlightVersions = versions;
      ts.firstSent = true;
      try {
        out.onNext(r.build());
        pushes.incrementAndGet();
      } catch (RuntimeException e) {
        log.debug("xDS stream to {} is gone", node.id(), e);
        end();
      }
    }

    private Map<String, Any> scoped(String type, Computed c) {
      Map<String, Any> all = c.resources().of(type);
      boolean ztunnel = node.type().equals("ztunnel");
      if (type.equals(TypeUrls.MESH_OBJECT)) {
        if (ztunnel) {
          return c.scopes().computeIfAbsent(new Scoped(type, "ztunnel"),
              k -> filter(all, name -> name.startsWith("PeerAuthentication/")));
        }
        if (!node.type().equals("waypoint")) {
          return all;
        }
        WaypointRef self = WaypointScope.resolve(c.snapshot(), node);
        return c.scopes().computeIfAbsent(new Scoped(type, self), k -> {
          Set<String> keys = WaypointScope.meshObjectKeys(c.snapshot(), self);
          return filter(all, keys::contains);
        });
      }
      if (!type.equals(TypeUrls.AUTHORIZATION)) {
        return all;
      }
      if (!ztunnel) {
        return Map.of(); // waypoints get the AuthorizationPolicies whole, as MeshObjects
      }
      String nodeName = node.nodeName();
      if (nodeName.isEmpty()) {
        for (Workload w : c.snapshot().workloads()) {
          if (w.name().equals(node.podName()) && w.namespace().equals(node.podNamespace())) {
            nodeName = w.node();
          }
        }
      }
      if (nodeName.isEmpty()) {
        return all;
      }
      return c.scopes().computeIfAbsent(new Scoped(type, nodeName),
          k -> authorizationsForNode(c, (String) k.scope()));
    }

    @Override
    public void onError(Throwable t) {
      log.debug("xDS stream from {} ended: {}", node.id(), Status.fromThrowable(t));
      synchronized (this) {
        end();
      }
    }

    @Override
    public synchronized void onCompleted() {
      end();
      try {
        out.onCompleted();
      } catch (RuntimeException e) {
        log.debug("completing the xDS stream", e);
      }
    }

    private void end() {
      closed = true;
      streams.remove(this);
    }

    synchronized void shutdown() {
      if (closed) {
        return;
      }
      end();
      try {
        out.onError(Status.UNAVAILABLE.withDescription("the config server is stopping")
            .asRuntimeException());
      } catch (RuntimeException e) {
        log.debug("ending the xDS stream", e);
      }
    }
  }

  private static Map<String, Any> filter(Map<String, Any> all,
      java.util.function.Predicate<String> keep) {
    Map<String, Any> out = new LinkedHashMap<>();
    all.forEach((name, r) -> {
      if (keep.test(name)) {
        out.put(name, r);
      }
    });
    return Collections.unmodifiableMap(out);
  }

  /**
   * The Authorizations a ztunnel on {@code nodeName} enforces: GLOBAL ones, NAMESPACE ones of the
   * namespaces of its workloads, WORKLOAD_SELECTOR ones its workloads list. A policy selecting
   * only workloads on other nodes is not sent.
   */
  private static Map<String, Any> authorizationsForNode(Computed c, String nodeName) {
    Set<String> namespaces = new HashSet<>();
    Set<String> selected = new HashSet<>();
    for (Workload w : c.snapshot().findWorkloadsOnNode(nodeName)) {
      namespaces.add(w.namespace());
      try {
        Any a = c.resources().of(TypeUrls.ADDRESS).get(w.uid());
        if (a != null) {
          selected.addAll(a.unpack(Address.class).getWorkload().getAuthorizationPoliciesList());
        }
      } catch (InvalidProtocolBufferException e) {
        throw new IllegalStateException(e);
      }
    }
    return filter(c.resources().of(TypeUrls.AUTHORIZATION), name -> {
      Authorization a = c.authorizations().get(name);
      return a.getScope() == Scope.GLOBAL
          || (a.getScope() == Scope.NAMESPACE && namespaces.contains(a.getNamespace()))
          || (a.getScope() == Scope.WORKLOAD_SELECTOR && selected.contains(name));
    });
  }

  private static final class TypeState {
    final String type;
    /** Name → version the client holds; immutable, replaced whole (may be a Computed's map). */
    Map<String, String> acked = Map.of();
    final Set<String> names = new HashSet<>();
    boolean wildcard;
    boolean firstSent;
    String inFlightNonce;
    Map<String, String> inFlightVersions = Map.of();
    String nackedVersion;
    /** The snapshot version of what is in flight. */
    String inFlightSnapshot;
    /** The snapshot version whose resources of this type the client holds (ACKed), or null. */
    String syncedVersion;
    /** The message of the client's last NACK, until it ACKs again; null when none. */
    String nackMessage;

    TypeState(String type) {
      this.type = type;
    }
  }

  /**
   * The sync state of every connected proxy (a stream that subscribed to configuration), sorted by
   * id: what {@code mesh proxy-status} prints.
   */
  public List<ProxySyncStatus> syncStatus() {
    String version = current.version();
    List<ProxySyncStatus> all = new ArrayList<>();
    for (Stream s : streams) {
      ProxySyncStatus p = s.status(version);
      if (p != null) {
        all.add(p);
      }
    }
    all.sort(java.util.Comparator.comparing(ProxySyncStatus::id));
    return all;
  }

  public static final class Builder {
    private final SnapshotPublisher snapshots;
    private WdsEncoder encoder = new WdsEncoder();
    private Duration debounce = Duration.ofMillis(100);

    private Builder(SnapshotPublisher snapshots) {
      this.snapshots = Objects.requireNonNull(snapshots, "snapshots");
    }

    public Builder encoder(WdsEncoder encoder) {
      this.encoder = Objects.requireNonNull(encoder, "encoder");
      return this;
    }

    /** The longest a change waits before it is pushed (changes within it are pushed together). */
    public Builder debounce(Duration debounce) {
      this.debounce = Objects.requireNonNull(debounce, "debounce");
      return this;
    }

    public XdsServer build() {
      return new XdsServer(snapshots, encoder, debounce);
    }
  }
}
