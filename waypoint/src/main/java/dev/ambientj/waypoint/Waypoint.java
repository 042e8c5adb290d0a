package dev.ambientj.waypoint;

import dev.ambientj.config.SnapshotListener;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.WaypointRef;
import dev.ambientj.hbone.HboneClient;
import dev.ambientj.hbone.HboneClientConfig;
import dev.ambientj.hbone.HboneServer;
import dev.ambientj.hbone.HboneServerConfig;
import dev.ambientj.hbone.identity.IdentityProvider;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.hbone.transport.SocketOrigin;
import dev.ambientj.hbone.transport.Transport;
import dev.ambientj.waypoint.cluster.ClusterManager;
import dev.ambientj.waypoint.filter.ratelimit.RateLimiter;
import dev.ambientj.waypoint.telemetry.ListenerStats;
import dev.ambientj.waypoint.telemetry.Telemetry;
import dev.ambientj.waypoint.telemetry.Tracing;
import dev.ambientj.waypoint.telemetry.TracingSettings;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.random.RandomGenerator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The waypoint proxy: one Gateway of class {@code istio-waypoint}, serving HBONE on its pod
 * address, port 15008.
 *
 * <pre>{@code
 * Waypoint wp = Waypoint.builder()
 *     .name("payment-waypoint").namespace("production")
 *     .config(publisher)                 // snapshots from shared-config
 *     .identityProvider(ca.asIdentityProvider(Duration.ofHours(24)))
 *     .transport(Transport.select(Transport.Kind.AUTO))
 *     .build()
 *     .start();                          // binds <pod address>:15008 (or listenAddress(..))
 * ...
 * wp.close();
 * }</pre>
 *
 * <p>Lifecycle: {@link #start()} compiles the current snapshot, binds, and subscribes for new
 * snapshots (each compiled off the data path and swapped in atomically); {@link #close()} sends
 * GOAWAY, unsubscribes, closes the listener, the upstream pool and the event loops it created.
 *
 * <p>The serving and upstream identity is the waypoint's own:
 * {@code spiffe://<td>/ns/<namespace>/sa/<service account of the waypoint pod>}.
 */
public final class Waypoint implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Waypoint.class);
  /** The HBONE port of waypoints (ISTIO-FACTS §10). */
  public static final int HBONE_PORT = 15008;
  /**
   * How long a downstream the waypoint has answered and ended may stay open waiting for the
   * client's end before it is closed (Envoy's delayed_close_timeout default).
   */
  public static final long DELAYED_CLOSE_MILLIS = 1_000;
  /** The drain deadline when none is given (ztunnel's default too). */
  public static final Duration DEFAULT_DRAIN_DEADLINE = Duration.ofSeconds(5);
  /** How long the drain waits, after ending what was left at its deadline, for those ends to close. */
  private static final Duration DRAIN_CLOSE_GRACE = Duration.ofMillis(DELAYED_CLOSE_MILLIS + 1_000);

  /**
   * At most how long {@link #close()} takes with drain deadline {@code drainDeadline}: the deadline,
   * then the ends of what was left, then the event loops' shutdown.
   */
  public static Duration shutdownTime(Duration drainDeadline) {
    return drainDeadline.plus(DRAIN_CLOSE_GRACE).plusSeconds(5);
  }

  private final Builder b;
  private final WaypointRef ref;
  private final ClusterManager clusters = new ClusterManager();
  private final RateLimiter limiter;
  private final PrometheusMeterRegistry registry;
  private final WaypointRuntime rt;
  private EventLoopGroup group;
  private boolean ownGroup;
  private HboneClient client;
  private HboneServer server;
  private Channel listener;
  private AutoCloseable subscription;
  private volatile Set<String> reportedProblems = Set.of();
  /** Started and not shutting down: what {@code /healthz/ready} reports. */
  private volatile boolean serving;
  /** istio_build and the JVM/process metrics in {@link #registry}, until {@link #close()}. */
  private final AutoCloseable processMetrics;

  private Waypoint(Builder b) {
    this.b = b;
    this.ref = new WaypointRef(b.namespace, b.name);
    this.limiter = new RateLimiter(b.ticker);
    this.registry = b.registry != null ? b.registry : new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    RandomGenerator random = b.seed != null ? new Random(b.seed) : ThreadLocalRandomGenerator.INSTANCE;
    DownstreamLimits limits = new DownstreamLimits(b.requestHeadersTimeout, b.idleTimeout,
        b.maxConnections > 0 ? b.maxConnections : DownstreamLimits.defaultMaxConnections(), new ListenerStats(registry));
    this.rt = new WaypointRuntime(null, new Telemetry(registry, b.clusterName),
        Tracing.create(b.tracing, b.name + "." + b.namespace, registry), b.ticker, random, b.maxRequestBytes,
        new StreamBuffers(b.streamBufferBytes), limits, b.drainDeadline);
    rt.numTrustedProxies = b.numTrustedProxies;
    this.processMetrics = dev.ambientj.config.ProcessMetrics.bind(registry,
        dev.ambientj.config.ProcessMetrics.PROXY);
  }

  public static Builder builder() {
    return new Builder();
  }

  /**
   * Compiles the current snapshot, binds the HBONE listener and starts following the config.
   *
   * @throws IllegalStateException when no listen address is given and the snapshot has no
   *     address for this waypoint (no pod labeled {@code gateway.networking.k8s.io/gateway-name})
   */
  public synchronized Waypoint start() throws InterruptedException {
    MeshSnapshot snap = b.publisher.snapshot();
    onSnapshot(snap);
    InetSocketAddress bind = b.listenAddress;
    if (bind == null) {
      var wp = snap.findWaypoint(ref).orElseThrow(() -> new IllegalStateException(
          "waypoint " + ref.namespace() + "/" + ref.name() + " is not in the configuration (expected a Gateway of class "
              + "istio-waypoint named " + ref.name() + " in namespace " + ref.namespace() + ")"));
      if (wp.addresses().isEmpty()) {
        throw new IllegalStateException("waypoint " + ref.namespace() + "/" + ref.name()
            + " has no address: label its pod gateway.networking.k8s.io/gateway-name=" + ref.name()
            + " (with a status.podIP) or set Gateway status.addresses");
      }
      bind = new InetSocketAddress(wp.addresses().get(0), HBONE_PORT);
    }
    rt.identity = identity(snap);
    rt.tracing.identify(bind.getAddress().getHostAddress(), ref.name(), ref.namespace(), rt.identity.trustDomain(),
        b.clusterName);
    Transport transport = b.transport != null ? b.transport : Transport.select(Transport.Kind.AUTO);
    if (b.group != null) {
      group = b.group;
    } else {
      group = transport.newEventLoopGroup(b.threads, "waypoint-" + ref.name());
      ownGroup = true;
    }
    UpstreamConnector connector = b.connector;
    if (connector == null) {
      client = new HboneClient(rt.buffers.upstream(b.clientConfig), transport, group, b.identities);
      HboneClient hbone = client;
      connector = (target, loop) -> hbone.connect(target, SocketOrigin.HOST, loop);
    }
    rt.connector = connector;
    // the HBONE connections outlive the drain: their streams are ended by it, in order
    server = HboneServer.create(rt.buffers.downstream(b.serverConfig.withDrainTimeout(
            b.drainDeadline.plus(DRAIN_CLOSE_GRACE).plusSeconds(2))), b.identities, rt.identity,
        new WaypointConnectHandler(rt));
    listener = new ServerBootstrap()
        .group(group)
        .channel(transport.serverChannelClass())
        .childHandler(new DownstreamConnectionCap(rt.limits, server.childInitializer()))
        .bind(bind)
        .sync()
        .channel();
    subscription = b.publisher.subscribe(new SnapshotListener() {
      @Override
      public void onSnapshot(MeshSnapshot snapshot) {
        Waypoint.this.onSnapshot(snapshot);
      }

      @Override
      public void onTransientError(String message) {
        log.warn("waypoint {}: config source error, keeping the current config: {}", ref.name(), message);
      }
    });
    log.info("waypoint {}/{} serving HBONE on {} as {}", ref.namespace(), ref.name(), listener.localAddress(),
        rt.identity);
    serving = true;
    return this;
  }

  private SpiffeId identity(MeshSnapshot snap) {
    if (b.identity != null) {
      return b.identity;
    }
    return snap.findWaypoint(ref)
        .map(w -> SpiffeId.parse(w.spiffeId()))
        .orElse(new SpiffeId(snap.trustDomain(), ref.namespace(), ref.name()));
  }

  private void onSnapshot(MeshSnapshot snap) {
    WaypointConfig cfg = WaypointConfig.compile(snap, ref, clusters, limiter);
    rt.config.set(cfg);
    Set<String> now = new HashSet<>(cfg.problems());
    for (String p : cfg.problems()) {
      if (!reportedProblems.contains(p)) {
        log.warn("waypoint {}: {}", ref.name(), p);
      }
    }
    reportedProblems = Set.copyOf(now);
    log.debug("waypoint {}: applied snapshot {}", ref.name(), snap.version());
  }

  /** The bound HBONE address. */
  public InetSocketAddress address() {
    return (InetSocketAddress) listener.localAddress();
  }

  /** The event loops the waypoint runs on (shared with, e.g., a metrics server). */
  public EventLoopGroup eventLoopGroup() {
    return group;
  }

  /** The identity the waypoint serves and connects upstream with. */
  public SpiffeId identity() {
    return rt.identity;
  }

  /** The Prometheus registry holding {@code istio_requests_total} and friends. */
  public PrometheusMeterRegistry metrics() {
    return registry;
  }

  /**
   * What every waypoint of {@code snapshot} would report about its config — routes to missing
   * subsets or services, VirtualServices shadowed by HTTPRoutes or by older VirtualServices,
   * unsupported AuthorizationPolicy parts — one operator-facing line each, prefixed with the
   * waypoint. For {@code ./mesh analyze}; compiles without binding anything.
   */
  public static List<String> analyze(MeshSnapshot snapshot) {
    List<String> out = new java.util.ArrayList<>();
    for (var wp : snapshot.waypoints()) {
      WaypointConfig c = WaypointConfig.compile(snapshot, wp.ref(), new ClusterManager(), new RateLimiter(Ticker.system()));
      for (String p : c.problems()) {
        out.add("waypoint " + wp.namespace() + "/" + wp.name() + ": " + p);
      }
    }
    return List.copyOf(out);
  }

  /** Operator-facing config problems of the current snapshot (unsupported fields, missing subsets...). */
  public List<String> configProblems() {
    WaypointConfig c = rt.config.get();
    return c == null ? List.of() : c.problems();
  }

  /** Whether the waypoint serves: started, and not shutting down ({@code /healthz/ready}). */
  public boolean ready() {
    return serving;
  }

  /**
   * Shuts down with a drain ({@link #drain()}), then closes the upstream pool and the event loops.
   * Blocks for up to {@link #shutdownTime}; call it off the waypoint's event loops.
   */
  @Override
  public synchronized void close() {
    drain();
    rt.tracing.close(); // sends the spans still queued
    try {
      processMetrics.close();
    } catch (Exception e) {
      log.debug("process metrics: unbind failed", e);
    }
    if (client != null) {
      client.close();
      client = null;
    }
    if (ownGroup && group != null) {
      group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly();
      group = null;
    }
  }

  /**
   * The first part of {@link #close()} (issue 16), returning when it is done; the event loops keep
   * running, so a metrics server on them still answers (readiness 503) until {@code close()}.
   * Readiness goes to 503 and the HBONE listener stops accepting at once; HBONE connections get
   * GOAWAY; requests, responses and relayed connections in progress go on until they end or the
   * drain deadline passes ({@link Builder#drainDeadline}); HTTP/1.1 clients get {@code Connection:
   * close} on their next response, HTTP/2 clients GOAWAY; what is left at the deadline is ended
   * with the response flag {@code DT} in its access-log line (see {@link DownstreamDrain}). Blocks
   * for up to the deadline plus {@code ~2 s}; call it off the waypoint's event loops. Once is
   * enough: later calls return at once.
   */
  public synchronized void drain() {
    serving = false;
    if (subscription != null) {
      try {
        subscription.close();
      } catch (Exception e) {
        log.debug("unsubscribe failed", e);
      }
      subscription = null;
    }
    if (listener != null) {
      listener.close().awaitUninterruptibly();
      listener = null;
    }
    if (server != null) {
      server.drain();
      try {
        int busy = rt.drain.busy();
        if (busy > 0) {
          log.info("waypoint {}: draining {} request(s) and connection(s), deadline {} ms", ref.name(), busy,
              b.drainDeadline.toMillis());
        }
        int cut = rt.drain.drain(b.drainDeadline, DRAIN_CLOSE_GRACE);
        if (cut > 0) {
          log.warn("waypoint {}: drain deadline ({} ms) passed; ended {} request(s) and connection(s) still in"
              + " progress (response flag DT)", ref.name(), b.drainDeadline.toMillis(), cut);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      server = null;
    }
  }

  /** {@link ThreadLocalRandom} as a shareable generator (each thread uses its own). */
  private enum ThreadLocalRandomGenerator implements RandomGenerator {
    INSTANCE;

    @Override
    public long nextLong() {
      return ThreadLocalRandom.current().nextLong();
    }

    @Override
    public int nextInt(int bound) {
      return ThreadLocalRandom.current().nextInt(bound);
    }

    @Override
    public long nextLong(long bound) {
      return ThreadLocalRandom.current().nextLong(bound);
    }

    @Override
    public double nextDouble() {
      return ThreadLocalRandom.current().nextDouble();
    }
  }

  /** Configures a {@link Waypoint}. {@code name}, {@code namespace}, {@code config} and {@code identityProvider} are required. */
  public static final class Builder {
    private String name;
    private String namespace;
    private SnapshotPublisher publisher;
    private IdentityProvider identities;
    private Transport transport;
    private EventLoopGroup group;
    private int threads = 2;
    private InetSocketAddress listenAddress;
    private UpstreamConnector connector;
    private HboneServerConfig serverConfig = HboneServerConfig.defaults();
    private HboneClientConfig clientConfig = HboneClientConfig.defaults();
    private PrometheusMeterRegistry registry;
    private Ticker ticker = Ticker.system();
    private Long seed;
    private SpiffeId identity;
    private String clusterName = "Kubernetes";
    private int maxRequestBytes = 10 << 20;
    private int streamBufferBytes = StreamBuffers.DEFAULT_STREAM_BYTES;
    private Duration requestHeadersTimeout = DownstreamLimits.DEFAULT_REQUEST_HEADERS_TIMEOUT;
    private Duration idleTimeout = DownstreamLimits.DEFAULT_IDLE_TIMEOUT;
    private int maxConnections;
    private Duration drainDeadline = DEFAULT_DRAIN_DEADLINE;
    private int numTrustedProxies;
    private TracingSettings tracing = TracingSettings.defaults();

    private Builder() {}

    /**
     * Where spans are exported and the sampling percentage when no {@code Telemetry} resource sets
     * one (default: not exported, 1%); see {@link Tracing}.
     */
    public Builder tracing(TracingSettings settings) {
      this.tracing = Objects.requireNonNull(settings, "tracing");
      return this;
    }

    /**
     * How long {@link Waypoint#close()} lets requests and connections in progress run before it
     * ends them (default 5 s, as ztunnel's; {@code ./mesh waypoint} takes it from {@code
     * TERMINATION_GRACE_PERIOD_SECONDS} less 5 s). Zero ends them at once.
     */
    public Builder drainDeadline(Duration deadline) {
      if (deadline.isNegative()) {
        throw new IllegalArgumentException("drainDeadline must not be negative, got " + deadline);
      }
      this.drainDeadline = deadline;
      return this;
    }

    /** The Gateway's name. */
    public Builder name(String name) {
      this.name = name;
      return this;
    }

    public Builder namespace(String namespace) {
      this.namespace = namespace;
      return this;
    }

    public Builder config(SnapshotPublisher publisher) {
      this.publisher = publisher;
      return this;
    }

    /** Certificates for the waypoint's identity (server and upstream client). */
    public Builder identityProvider(IdentityProvider identities) {
      this.identities = identities;
      return this;
    }

    public Builder transport(Transport transport) {
      this.transport = transport;
      return this;
    }

    /** An event loop group to share (not closed by the waypoint); by default one is created. */
    public Builder eventLoopGroup(EventLoopGroup group) {
      this.group = group;
      return this;
    }

    public Builder threads(int threads) {
      this.threads = threads;
      return this;
    }

    /** Where to listen; by default the waypoint pod's address from the snapshot, port 15008. */
    public Builder listenAddress(InetSocketAddress address) {
      this.listenAddress = address;
      return this;
    }

    /** Overrides how upstream tunnels are opened (tests); by default a pooled HboneClient. */
    public Builder upstream(UpstreamConnector connector) {
      this.connector = connector;
      return this;
    }

    public Builder serverConfig(HboneServerConfig c) {
      this.serverConfig = c;
      return this;
    }

    public Builder clientConfig(HboneClientConfig c) {
      this.clientConfig = c;
      return this;
    }

    public Builder meterRegistry(PrometheusMeterRegistry registry) {
      this.registry = registry;
      return this;
    }

    /** The clock of outlier ejection and rate limiting (timeouts use the event loop's timer). */
    public Builder ticker(Ticker ticker) {
      this.ticker = ticker;
      return this;
    }

    /** Seeds weighted splits, fault injection and load balancing (tests). */
    public Builder seed(long seed) {
      this.seed = seed;
      return this;
    }

    /** Overrides the identity (default: from the snapshot's waypoint record). */
    public Builder identity(SpiffeId id) {
      this.identity = id;
      return this;
    }

    public Builder maxRequestBytes(int max) {
      this.maxRequestBytes = max;
      return this;
    }

    /**
     * The most one stream (a request or response) may make the waypoint hold on each side (default
     * 1 MiB): the HTTP/2 stream window toward clients and endpoints, and what is queued toward a
     * client before the endpoint's response is no longer read. Connection windows are sized from it
     * so that stalled streams never hold a whole connection (see {@code StreamBuffers}).
     */
    public Builder streamBufferBytes(int bytes) {
      new StreamBuffers(bytes); // validates
      this.streamBufferBytes = bytes;
      return this;
    }

    /**
     * How long a client may take from the first byte of an HTTP/1.1 request to the end of its
     * headers (default 10 s; Envoy's {@code request_headers_timeout}); after it the client gets 408
     * and its connection is closed. Zero disables it.
     */
    public Builder requestHeadersTimeout(Duration timeout) {
      this.requestHeadersTimeout = Objects.requireNonNull(timeout, "timeout");
      return this;
    }

    /**
     * How long a client connection may have no request in progress before it is closed (default
     * 1 h, Envoy's {@code idle_timeout}). Zero disables it.
     */
    public Builder idleTimeout(Duration timeout) {
      this.idleTimeout = Objects.requireNonNull(timeout, "timeout");
      return this;
    }

    /**
     * HBONE connections open at once (default: the descriptor limit less 1,024); more are closed
     * as soon as they are accepted and counted in {@code envoy_listener_downstream_cx_overflow}.
     */
    public Builder maxConnections(int max) {
      if (max < 1) {
        throw new IllegalArgumentException("maxConnections must be at least 1, got " + max);
      }
      this.maxConnections = max;
      return this;
    }

    /**
     * Proxies in front of the waypoint whose {@code X-Forwarded-For} entries are trusted: {@code
     * remote.ip} / {@code remoteIpBlocks} is then the n-th address from the right of the header
     * (Istio's {@code gatewayTopology.numTrustedProxies}, default 0: the direct client).
     */
    public Builder numTrustedProxies(int n) {
      if (n < 0) {
        throw new IllegalArgumentException("numTrustedProxies must not be negative, got " + n);
      }
      this.numTrustedProxies = n;
      return this;
    }

    public Waypoint build() {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(namespace, "namespace");
      Objects.requireNonNull(publisher, "config");
      Objects.requireNonNull(identities, "identityProvider");
      return new Waypoint(this);
    }
  }
}
