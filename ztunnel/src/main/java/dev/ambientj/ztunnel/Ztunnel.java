package dev.ambientj.ztunnel;

import dev.ambientj.config.ConfigRejectionMetrics;
import dev.ambientj.config.GracefulShutdown;
import dev.ambientj.config.ProcessMetrics;
import dev.ambientj.config.XdsClientMetrics;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.authz.AuthorizationEngine;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.hbone.HboneClient;
import dev.ambientj.hbone.HboneClientConfig;
import dev.ambientj.hbone.HboneServerConfig;
import dev.ambientj.hbone.identity.IdentityProvider;
import dev.ambientj.hbone.transport.Descriptors;
import dev.ambientj.hbone.transport.Transport;
import dev.ambientj.hbone.admin.AdminEndpoint;
import dev.ambientj.hbone.admin.AdminResponse;
import dev.ambientj.hbone.admin.AdminServer;
import dev.ambientj.hbone.admin.LogLevels;
import dev.ambientj.hbone.admin.OperatorEndpoints;
import dev.ambientj.ztunnel.inpod.InPodListenerBinder;
import dev.ambientj.ztunnel.inpod.NetnsExecutor;
import dev.ambientj.ztunnel.inpod.ZdsClient;
import dev.ambientj.ztunnel.proxy.ConnectionDrain;
import dev.ambientj.ztunnel.proxy.Ports;
import dev.ambientj.ztunnel.proxy.ProxyContext;
import dev.ambientj.ztunnel.proxy.ProxyLimits;
import dev.ambientj.ztunnel.proxy.WorkloadInfoCache;
import dev.ambientj.ztunnel.telemetry.AccessLog;
import dev.ambientj.ztunnel.telemetry.AccessLogSink;
import dev.ambientj.ztunnel.telemetry.ListenerMetrics;
import dev.ambientj.ztunnel.telemetry.PeerLabels;
import dev.ambientj.ztunnel.telemetry.TrafficMetrics;
import dev.ambientj.ztunnel.telemetry.WorkloadManagerMetrics;
import io.netty.channel.EventLoopGroup;
import java.net.InetAddress;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.random.RandomGenerator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One node's ztunnel: serves every enrolled workload scheduled on the node (listeners 15008, 15006,
 * 15001, 15080 on each workload's address, through the {@link ListenerBinder} seam) and, on the
 * node's address, admin (15000: {@code /config_dump}, {@code /healthz}), metrics (15020:
 * {@code /metrics}, {@code /stats/prometheus}) and readiness (15021: {@code /healthz/ready}).
 *
 * <p>Lifecycle: {@link #builder()} → {@link Builder#build()} → {@link #start()} → {@link #close()}.
 * Workloads that appear in or leave a new snapshot get their listeners opened or drained without a
 * restart. Several ztunnels may share one event-loop group (the demo and tests run two nodes in one
 * process); a group passed in is not shut down by {@link #close()}.
 */
public final class Ztunnel implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Ztunnel.class);

  private final Builder b;
  private final EventLoopGroup group;
  private final boolean ownsGroup;
  private final HboneClient hboneClient;
  private final ProxyContext ctx;
  private final ListenerManager manager;
  private final TrafficMetrics metrics;
  private AutoCloseable subscription;
  private AutoCloseable rejectionMetrics;
  private AutoCloseable processMetrics;
  private AutoCloseable xdsClientMetrics;
  private NodeServer admin;
  private NodeServer metricsServer;
  private NodeServer readiness;
  private java.util.concurrent.ScheduledExecutorService nodePortRetries;
  private final NetnsExecutor netns;
  private final InPodListenerBinder inPodBinder;
  private ZdsClient zds;
  private java.util.concurrent.ScheduledExecutorService retries;
  private boolean closed;
  /** Set at the start of a shutdown: readiness answers 503 from then on. */
  private volatile boolean draining;
  /** When the current drain must end its connections (System.nanoTime), once draining. */
  private long drainDeadlineNanos;
  /** Between telling HBONE peers the server is going away and the GOAWAY that refuses streams. */
  static final Duration GOAWAY_NOTICE = Duration.ofSeconds(1);
  /** How long the last step of the drain lets ended connections close by themselves. */
  static final Duration DRAIN_LINGER = Duration.ofSeconds(2);
  /** How often in-pod mode retries pods whose listeners could not be bound (ztunnel: 5 s). */
  static final Duration INPOD_RETRY = Duration.ofSeconds(5);

  private Ztunnel(Builder b) {
    this.b = b;
    if (b.zdsSocket != null) {
      try {
        this.netns = new NetnsExecutor();
      } catch (IOException e) {
        throw new UncheckedIOException("in-pod mode: " + e.getMessage(), e);
      }
      this.inPodBinder = new InPodListenerBinder(netns);
      b.binder = inPodBinder;
    } else {
      this.netns = null;
      this.inPodBinder = null;
    }
    this.ownsGroup = b.group == null;
    this.group = ownsGroup ? b.transport.newEventLoopGroup(b.workerThreads, "ztunnel-" + b.node)
        : b.group;
    this.hboneClient = new HboneClient(b.hboneClientConfig, b.transport, group, b.identities);
    this.metrics = new TrafficMetrics();
    this.ctx = new ProxyContext(b.node, b.config, b.identities, b.transport, group, hboneClient,
        b.binder, metrics, new AccessLog(b.accessLog, Clock.systemUTC()),
        new WorkloadInfoCache(b.cluster), b.random, b.rootNamespace, b.limits);
    // The HBONE server's own graceful close must not cut streams before this drain ends them.
    this.manager = new ListenerManager(ctx, b.hboneServerConfig.withDrainTimeout(
        b.drainDeadline.plus(DRAIN_LINGER).plus(DRAIN_LINGER)));
  }

  public static Builder builder() {
    return new Builder();
  }

  /**
   * Binds the node ports and starts following the configuration. On failure (e.g. a node port in
   * use) everything started so far is closed and the exception is rethrown.
   */
  public Ztunnel start() throws InterruptedException {
    try {
      doStart();
    } catch (InterruptedException | RuntimeException e) {
      close();
      throw e;
    }
    return this;
  }

  private void doStart() throws InterruptedException {
    InetAddress nodeAddress = nodeAddress(b.config.snapshot());
    ProxyLimits limits = b.limits;
    log.info("ztunnel for node {}: open-file limit {}; pod traffic may hold {} sockets ({} in a"
            + " handshake), one workload listener {} ({} in a handshake); SOCKS5 handshake"
            + " deadline {} ms, connect deadline {} ms; admin, metrics and readiness {} connections"
            + " each", b.node, Descriptors.limit(), limits.maxConnections(), limits.maxHandshakes(),
        limits.listenerMaxConnections(), limits.listenerMaxHandshakes(),
        limits.socks5HandshakeTimeout().toMillis(), limits.connectTimeout().toMillis(),
        limits.adminMaxConnections());
    nodePortRetries = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(
        r -> Thread.ofPlatform().daemon().name("ztunnel-node-ports").unstarted(r));
    admin = nodeServer("admin", new InetSocketAddress(nodeAddress, b.adminPort),
        adminEndpoints());
    InetAddress statsAddress = b.statsAddress != null ? b.statsAddress : nodeAddress;
    metricsServer = nodeServer("metrics", new InetSocketAddress(statsAddress, b.metricsPort),
        Map.of("/metrics", q -> metricsResponse(), "/stats/prometheus", q -> metricsResponse()));
    readiness = nodeServer("readiness", new InetSocketAddress(statsAddress, b.readinessPort),
        Map.of("/healthz/ready", q -> readiness()));
    subscription = b.config.subscribe(manager);
    rejectionMetrics = ConfigRejectionMetrics.bind(metrics.registry(), b.config);
    processMetrics = ProcessMetrics.bind(metrics.registry(), ProcessMetrics.ZTUNNEL);
    xdsClientMetrics = XdsClientMetrics.bind(metrics.registry(), b.config);
    WorkloadManagerMetrics workloadManager = new WorkloadManagerMetrics(metrics.registry());
    if (inPodBinder != null) {
      InPodWorkloads inPod = new InPodWorkloads(inPodBinder, manager, b.node, workloadManager);
      zds = new ZdsClient(b.zdsSocket, inPod).start();
      retries = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(
          r -> Thread.ofPlatform().daemon().name("ztunnel-inpod-retry").unstarted(r));
      retries.scheduleWithFixedDelay(() -> {
        manager.retryFailed();
        inPod.recount();
      }, INPOD_RETRY.toMillis(), INPOD_RETRY.toMillis(), TimeUnit.MILLISECONDS);
      log.info("ztunnel for node {}: in-pod mode, node agent at {}", b.node, b.zdsSocket);
    }
    log.info("ztunnel for node {} started: admin {}, metrics {}, readiness {}", b.node,
        admin.address(), metricsServer.address(), readiness.address());
    announceReady();
  }

  /** Logs once when this ztunnel first becomes ready (a successor's signal that it serves). */
  private void announceReady() {
    java.util.concurrent.atomic.AtomicReference<java.util.concurrent.ScheduledFuture<?>> task =
        new java.util.concurrent.atomic.AtomicReference<>();
    task.set(nodePortRetries.scheduleWithFixedDelay(() -> {
      if (ready()) {
        log.info("ztunnel for node {} ready: serving {} workloads", b.node,
            manager.listeners().size());
        task.get().cancel(false);
      } else if (draining) {
        task.get().cancel(false);
      }
    }, 50, 50, TimeUnit.MILLISECONDS));
  }

  private NodeServer nodeServer(String name, InetSocketAddress address,
      Map<String, AdminEndpoint> endpoints) throws InterruptedException {
    return NodeServer.start(name, address, () -> AdminServer.start(group,
        b.transport.serverChannelClass(), address, endpoints, guard(name)), nodePortRetries);
  }

  /** The caps of one node server; its refusals are counted under {@code listener=name}. */
  private AdminServer.Guard guard(String name) {
    return new AdminServer.Guard(b.limits.adminMaxConnections(), ctx.acceptBackoff(),
        limit -> ctx.listenerMetrics().refused(ListenerMetrics.Scope.NODE_SERVER, name, "-", "-",
            limit));
  }

  private Map<String, AdminEndpoint> adminEndpoints() {
    Map<String, AdminEndpoint> m = new LinkedHashMap<>();
    m.put("/config_dump", q -> AdminResponse.json(configDump()));
    m.put("/healthz", q -> AdminResponse.text(200, "ok\n"));
    m.put("/healthz/ready", q -> readiness());
    return OperatorEndpoints.with("ambientj ztunnel admin, node " + b.node, m, Map.of(
            "/config_dump", "workloads, services, policies, certificates (ztunnel's JSON)",
            "/healthz", "200 while the process runs",
            "/healthz/ready", "200 once ready, 503 with the reason otherwise"),
        LogLevels.ofThisProcess(LOG_SCOPES), this::quit);
  }

  /** The logger scopes {@code /logging} lists for a ztunnel. */
  static final List<String> LOG_SCOPES = List.of("dev.ambientj.ztunnel", "dev.ambientj.hbone",
      "dev.ambientj.config", "io.netty", "io.grpc", "io.fabric8");

  /**
   * {@code POST /quitquitquit}: the process's SIGTERM drain when it has one (it then exits 0);
   * embedded (a test, the demo), this ztunnel's own {@link #shutdown()}.
   */
  private void quit() {
    log.info("ztunnel for node {}: /quitquitquit: shutting down", b.node);
    if (!GracefulShutdown.requestDrain()) {
      shutdown();
    }
  }

  private AdminResponse metricsResponse() {
    return new AdminResponse(200, "text/plain; version=0.0.4; charset=utf-8", metrics.scrape());
  }

  private InetAddress nodeAddress(MeshSnapshot snapshot) {
    if (b.adminAddress != null) {
      return b.adminAddress;
    }
    return snapshot.findNode(b.node)
        .flatMap(n -> n.addresses().stream().findFirst())
        .orElse(InetAddress.getLoopbackAddress());
  }

  /**
   * Configuration loaded, every local workload's listeners bound and certificates issued; false
   * from the start of a shutdown.
   */
  public boolean ready() {
    return !draining && manager.ready();
  }

  private AdminResponse readiness() {
    if (draining) {
      return AdminResponse.text(503, "not ready: shutting down (draining)\n");
    }
    String why = manager.notReadyReason();
    return why == null ? AdminResponse.text(200, "ready\n")
        : AdminResponse.text(503, "not ready: " + why + "\n");
  }

  /** Polls {@link #ready()} until true or {@code timeout}; returns the last answer. */
  public boolean awaitReady(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!ready()) {
      if (System.nanoTime() > deadline) {
        return false;
      }
      TimeUnit.MILLISECONDS.sleep(10);
    }
    return true;
  }

  public String node() {
    return b.node;
  }

  public InetSocketAddress adminAddress() {
    return admin.address();
  }

  public InetSocketAddress metricsAddress() {
    return metricsServer.address();
  }

  public InetSocketAddress readinessAddress() {
    return readiness.address();
  }

  /** The Prometheus text this node's {@code /metrics} serves. */
  public String scrapeMetrics() {
    return metrics.scrape();
  }

  /** The JSON this node's {@code /config_dump} serves. */
  public String configDump() {
    return ConfigDump.render(b.node, b.config.snapshot(), manager, ctx.openConnections());
  }

  /**
   * The SPIFFE id proven by the client of the live inbound connection whose upstream socket is
   * {@code appSideAddress} (the peer address a local app sees).
   */
  public Optional<String> findInboundPeerIdentity(InetSocketAddress appSideAddress) {
    return ctx.inboundConnections().findPeerIdentity(appSideAddress);
  }

  /**
   * What a kubelet's SIGTERM asks for: readiness answers 503 at once; every workload listener
   * keeps accepting until a successor listens on its address, then hands over to it
   * ({@link ListenerHandover}) — or, without one, until the drain deadline; HBONE peers are told
   * to open new connections elsewhere (GOAWAY); connections in flight continue until the drain
   * deadline, counted from now, and what is left then is ended gracefully and logged
   * ({@link ConnectionDrain}); then {@link #close()}. Blocks until done; not on an event loop.
   */
  public void shutdown() {
    long start = System.nanoTime();
    synchronized (this) {
      if (draining) {
        return;
      }
      draining = true;
      drainDeadlineNanos = start + b.drainDeadline.toNanos();
    }
    List<ListenerHandover.Listener> listening = new ArrayList<>();
    for (WorkloadListeners l : manager.listeners()) {
      for (io.netty.channel.Channel ch : l.listening()) {
        listening.add(new ListenerHandover.Listener(l, l.workload(), ch));
      }
    }
    log.info("ztunnel for node {}: shutting down: readiness now 503; {} connections open; {}"
            + " listeners keep accepting until a successor listens on their address, at most"
            + " until the drain deadline in {} s", b.node, ctx.connections().size(),
        listening.size(), b.drainDeadline.toMillis() / 1000.0);
    stopFollowing();
    try {
      ListenerHandover.Outcome o = new ListenerHandover(ctx.binder())
          .run(listening, drainDeadlineNanos);
      log.info("ztunnel for node {}: {} listeners handed over to a successor, {} closed without"
              + " one; {} connections open, served until the drain deadline in {} s", b.node,
          o.handedOver(), o.withoutSuccessor(), ctx.connections().size(),
          Math.max(0, drainDeadlineNanos - System.nanoTime()) / 1_000_000 / 1000.0);
      // Peers stop opening streams here and reconnect (to the successor); streams on their way
      // are still served. The exact GOAWAY follows once that has had a round trip's time.
      ConnectionDrain.goAway(ctx.hboneConnections());
      TimeUnit.NANOSECONDS.sleep(Math.min(GOAWAY_NOTICE.toNanos(),
          Math.max(0, drainDeadlineNanos - System.nanoTime())));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    close();
    log.info("ztunnel for node {}: drained in {} s", b.node,
        (System.nanoTime() - start) / 1_000_000 / 1000.0);
  }

  /**
   * Stops listening and drains: HBONE peers get GOAWAY, established connections may finish until
   * the drain deadline (counted from {@link #shutdown()} when that started it), then whatever is
   * left is ended gracefully ({@link ConnectionDrain}, each logged); then the node ports.
   * Idempotent. Must not be called on an event loop.
   */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    if (!draining) {
      draining = true;
      drainDeadlineNanos = System.nanoTime() + b.drainDeadline.toNanos();
    }
    stopFollowing();
    manager.close();
    if (!awaitNoConnections(drainDeadlineNanos)) {
      int ended = ConnectionDrain.endRelays(ctx.connections(), DRAIN_LINGER.toMillis());
      log.info("ztunnel for node {}: drain deadline: ending {} connections still open (FIN to"
          + " clients, END_STREAM on tunnels; each logged with response_flags DRAIN)", b.node,
          ended);
      awaitNoConnections(System.nanoTime() + DRAIN_LINGER.toNanos());
    }
    ctx.connections().close().awaitUninterruptibly();
    ctx.hboneConnections().close().awaitUninterruptibly();
    for (NodeServer s : new NodeServer[] {admin, metricsServer, readiness}) {
      if (s != null) {
        s.close();
      }
    }
    admin = metricsServer = readiness = null;
    if (nodePortRetries != null) {
      nodePortRetries.shutdownNow();
    }
    hboneClient.close();
    if (inPodBinder != null) {
      inPodBinder.close();
      netns.close();
    }
    if (ownsGroup) {
      group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }
  }

  /** Waits until no proxied connection is open (true) or {@code deadlineNanos} passes (false). */
  private boolean awaitNoConnections(long deadlineNanos) {
    while (!ctx.connections().isEmpty() && System.nanoTime() < deadlineNanos) {
      try {
        TimeUnit.MILLISECONDS.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    return ctx.connections().isEmpty();
  }

  /** Stops taking pods from the node agent and following the configuration. */
  private synchronized void stopFollowing() {
    if (retries != null) {
      retries.shutdownNow();
      retries = null;
    }
    if (zds != null) {
      zds.close();
      zds = null;
    }
    for (AutoCloseable s : new AutoCloseable[] {subscription, rejectionMetrics, processMetrics,
        xdsClientMetrics}) {
      try {
        if (s != null) {
          s.close();
        }
      } catch (Exception e) {
        log.debug("unsubscribe failed", e);
      }
    }
    subscription = rejectionMetrics = processMetrics = xdsClientMetrics = null;
  }

  /** Configures a {@link Ztunnel}; node, config and identity provider are required. */
  public static final class Builder {
    private String node;
    private SnapshotPublisher config;
    private IdentityProvider identities;
    private Transport transport;
    private EventLoopGroup group;
    private int workerThreads = 2;
    private ListenerBinder binder = ListenerBinder.hostMode();
    private InetAddress adminAddress;
    private InetAddress statsAddress;
    private int adminPort = Ports.ADMIN;
    private int metricsPort = Ports.METRICS;
    private int readinessPort = Ports.READINESS;
    private AccessLogSink accessLog = AccessLogSink.stdout();
    private HboneClientConfig hboneClientConfig = HboneClientConfig.defaults();
    private HboneServerConfig hboneServerConfig = HboneServerConfig.defaults();
    private RandomGenerator random;
    private String cluster = PeerLabels.DEFAULT_CLUSTER;
    private Duration drainDeadline = Duration.ofSeconds(5);
    private String rootNamespace = AuthorizationEngine.DEFAULT_ROOT_NAMESPACE;
    private Path zdsSocket;
    private ProxyLimits limits;

    private Builder() {}

    /**
     * Deadlines and caps of the listeners; default {@link ProxyLimits#derive} from this process's
     * open-file limit.
     */
    public Builder limits(ProxyLimits limits) {
      this.limits = Objects.requireNonNull(limits, "limits");
      return this;
    }

    /**
     * In-pod mode: take pods' network namespaces from the node agent at {@code zdsSocket}
     * (ZDS over SOCK_SEQPACKET; Istio's default {@code /var/run/ztunnel/ztunnel.sock}) and open
     * every workload's listeners and connections inside its pod. Needs root (setns, SO_MARK) and
     * a native transport. Replaces {@link #binder}.
     */
    public Builder inPod(Path zdsSocket) {
      this.zdsSocket = zdsSocket;
      return this;
    }

    /**
     * Istio's root namespace (default {@code istio-system}): its AuthorizationPolicies apply to
     * every namespace and its selector-less PeerAuthentication is mesh-wide.
     */
    public Builder rootNamespace(String namespace) {
      this.rootNamespace = Objects.requireNonNull(namespace, "namespace");
      return this;
    }

    /** The node whose workloads ({@code spec.nodeName}) this ztunnel serves. */
    public Builder node(String node) {
      this.node = node;
      return this;
    }

    public Builder config(SnapshotPublisher config) {
      this.config = config;
      return this;
    }

    public Builder identityProvider(IdentityProvider identities) {
      this.identities = identities;
      return this;
    }

    /** Defaults to {@code Transport.select(AUTO)}. */
    public Builder transport(Transport transport) {
      this.transport = transport;
      return this;
    }

    /** A shared event-loop group (not shut down on close); default: an own group. */
    public Builder eventLoopGroup(EventLoopGroup group) {
      this.group = group;
      return this;
    }

    /** Threads of the own event-loop group (default 2, ztunnel's worker count). */
    public Builder workerThreads(int threads) {
      this.workerThreads = threads;
      return this;
    }

    public Builder binder(ListenerBinder binder) {
      this.binder = binder;
      return this;
    }

    /** Where admin, metrics and readiness listen; default: the node's InternalIP, else 127.0.0.1. */
    public Builder adminAddress(InetAddress address) {
      this.adminAddress = address;
      return this;
    }

    /**
     * Where metrics and readiness listen, when not where admin does (in a pod: admin on
     * localhost, these on all of the pod's addresses, as Istio's ztunnel); default: {@link
     * #adminAddress}'s.
     */
    public Builder statsAddress(InetAddress address) {
      this.statsAddress = address;
      return this;
    }

    /** Admin, metrics and readiness ports (0 = any free port, for tests). */
    public Builder nodePorts(int admin, int metrics, int readiness) {
      this.adminPort = admin;
      this.metricsPort = metrics;
      this.readinessPort = readiness;
      return this;
    }

    public Builder accessLog(AccessLogSink sink) {
      this.accessLog = sink;
      return this;
    }

    public Builder hboneClientConfig(HboneClientConfig config) {
      this.hboneClientConfig = config;
      return this;
    }

    public Builder hboneServerConfig(HboneServerConfig config) {
      this.hboneServerConfig = config;
      return this;
    }

    /** The load-balancing randomness (tests pin it); default: thread-local random. */
    public Builder random(RandomGenerator random) {
      this.random = random;
      return this;
    }

    /** The cluster id in metrics and baggage (default {@code Kubernetes}). */
    public Builder cluster(String cluster) {
      this.cluster = cluster;
      return this;
    }

    /** How long {@link #close()} lets established connections finish (default 5 s, as ztunnel). */
    public Builder drainDeadline(Duration deadline) {
      this.drainDeadline = deadline;
      return this;
    }

    public Ztunnel build() {
      Objects.requireNonNull(node, "node");
      Objects.requireNonNull(config, "config");
      Objects.requireNonNull(identities, "identityProvider");
      if (transport == null) {
        transport = Transport.select(Transport.Kind.AUTO);
      }
      if (random == null) {
        random = new ThreadLocalRandomGenerator();
      }
      if (limits == null) {
        limits = ProxyLimits.derive(Descriptors.limit());
      }
      return new Ztunnel(this);
    }
  }

  /** Delegates to the calling thread's {@link ThreadLocalRandom} (event loops never share one). */
  private static final class ThreadLocalRandomGenerator implements RandomGenerator {
    @Override
    public long nextLong() {
      return ThreadLocalRandom.current().nextLong();
    }

    @Override
    public int nextInt(int bound) {
      return ThreadLocalRandom.current().nextInt(bound);
    }
  }
}
