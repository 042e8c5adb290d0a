package dev.ambientj.ztunnel.proxy;

import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.hbone.HboneClient;
import dev.ambientj.hbone.identity.IdentityProvider;
import dev.ambientj.hbone.transport.AcceptBackoff;
import dev.ambientj.hbone.transport.ConnectionLimiter;
import dev.ambientj.hbone.transport.SocketOrigin;
import dev.ambientj.hbone.transport.Transport;
import dev.ambientj.ztunnel.ListenerBinder;
import dev.ambientj.ztunnel.authz.PolicyState;
import dev.ambientj.ztunnel.authz.PolicyStates;
import dev.ambientj.ztunnel.fairness.WorkloadBudgets;
import dev.ambientj.ztunnel.telemetry.AccessLog;
import dev.ambientj.ztunnel.telemetry.ListenerMetrics;
import dev.ambientj.ztunnel.telemetry.Reporter;
import dev.ambientj.ztunnel.telemetry.TrafficMetrics;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.util.NetUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.netty.util.concurrent.Promise;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.random.RandomGenerator;

/**
 * Everything one ztunnel's data path shares: config, identities, the HBONE client pool, event
 * loops, telemetry and the binding seam. Immutable after construction; safe from any thread.
 */
public final class ProxyContext {
  /** Default upstream TCP connect timeout (ztunnel's {@code CONNECTION_TIMEOUT}). */
  public static final int CONNECT_TIMEOUT_MILLIS = 10_000;

  private final String node;
  private final SnapshotPublisher config;
  private final IdentityProvider identities;
  private final Transport transport;
  private final EventLoopGroup group;
  private final HboneClient hboneClient;
  private final ListenerBinder binder;
  private final TrafficMetrics metrics;
  private final AccessLog accessLog;
  private final WorkloadInfoCache infos;
  private final InboundConnections inboundConnections = new InboundConnections();
  private final OpenConnections openConnections = new OpenConnections();
  private final PolicyStates policies;
  private final RandomGenerator random;
  private final ChannelGroup connections =
      new DefaultChannelGroup("ztunnel-connections", GlobalEventExecutor.INSTANCE);
  private final ChannelGroup hboneConnections =
      new DefaultChannelGroup("ztunnel-hbone-connections", GlobalEventExecutor.INSTANCE);
  private final ProxyLimits limits;
  private final ConnectionLimiter limiter;
  private final AcceptBackoff acceptBackoff;
  private final ListenerMetrics listenerMetrics;
  private final WorkloadBudgets workloadBudgets;

  public ProxyContext(String node, SnapshotPublisher config, IdentityProvider identities,
      Transport transport, EventLoopGroup group, HboneClient hboneClient, ListenerBinder binder,
      TrafficMetrics metrics, AccessLog accessLog, WorkloadInfoCache infos, RandomGenerator random,
      String rootNamespace, ProxyLimits limits) {
    this.limits = limits;
    this.limiter = ConnectionLimiter.create("ztunnel " + node, limits.maxConnections(),
        limits.maxHandshakes());
    this.acceptBackoff = new AcceptBackoff("ztunnel " + node);
    this.listenerMetrics = new ListenerMetrics(metrics.registry(), limiter, acceptBackoff);
    this.workloadBudgets = new WorkloadBudgets(limits.workloadBudget(), metrics.registry(),
        System::nanoTime);
    io.micrometer.core.instrument.FunctionCounter.builder("ambientj.access.log.dropped", accessLog,
            AccessLog::dropped)
        .description("Access-log lines dropped because the log writer fell 65,536 lines behind")
        .register(metrics.registry());
    this.policies = new PolicyStates(rootNamespace);
    this.node = node;
    this.config = config;
    this.identities = identities;
    this.transport = transport;
    this.group = group;
    this.hboneClient = hboneClient;
    this.binder = binder;
    this.metrics = metrics;
    this.accessLog = accessLog;
    this.infos = infos;
    this.random = random;
  }

  public String node() {
    return node;
  }

  /** The current snapshot: read once per connection. */
  public MeshSnapshot snapshot() {
    return config.snapshot();
  }

  /** The compiled inbound policy of {@code snapshot} (the one this connection read). */
  public PolicyState policies(MeshSnapshot snapshot) {
    return policies.forSnapshot(snapshot);
  }

  /** The publisher of compiled policy (the snapshot listener updates it). */
  public PolicyStates policyStates() {
    return policies;
  }

  public IdentityProvider identities() {
    return identities;
  }

  public Transport transport() {
    return transport;
  }

  public EventLoopGroup group() {
    return group;
  }

  public HboneClient hboneClient() {
    return hboneClient;
  }

  public ListenerBinder binder() {
    return binder;
  }

  public TrafficMetrics metrics() {
    return metrics;
  }

  public WorkloadInfoCache infos() {
    return infos;
  }

  public InboundConnections inboundConnections() {
    return inboundConnections;
  }

  public RandomGenerator random() {
    return random;
  }

  /** Deadlines and caps of this proxy's listeners. */
  public ProxyLimits limits() {
    return limits;
  }

  /**
   * The proxy-wide caps: every workload listener's limiter is a child of this one, and upstream
   * sockets opened by {@link #connectTcp} take a slot here.
   */
  public ConnectionLimiter limiter() {
    return limiter;
  }

  /** Pause-and-resume of every listening socket of this proxy when accept fails. */
  public AcceptBackoff acceptBackoff() {
    return acceptBackoff;
  }

  public ListenerMetrics listenerMetrics() {
    return listenerMetrics;
  }

  /** Per-source-workload budgets (fairness between the node's workloads). */
  public WorkloadBudgets workloadBudgets() {
    return workloadBudgets;
  }

  /**
   * The telemetry of a new connection of the workload {@code workloadUid} proxied here (outbound:
   * the source; inbound: the destination).
   */
  public ConnectionTelemetry telemetry(Reporter reporter, String workloadUid) {
    return new ConnectionTelemetry(metrics, accessLog, reporter, workloadUid, openConnections);
  }

  /** The connections proxied right now, for {@code /config_dump}. */
  public OpenConnections openConnections() {
    return openConnections;
  }

  /**
   * Connects a plain TCP upstream on {@code loop} (the downstream's, so the relay needs no
   * cross-thread hand-off), with its socket created where {@code origin} says (in-pod mode: inside
   * the pod's network namespace, marked so it is not captured again). What the upstream sends
   * before the relay starts is held by an {@link EarlyDataBuffer}; half-closure is allowed. The
   * future completes on {@code loop} with the connected channel.
   *
   * <p>The socket takes a slot of the proxy's connection cap ({@link #limiter()}) until it closes;
   * with none left the future fails at once. Cancelling the future abandons the connect: the
   * socket is closed, now or as soon as it exists.
   */
  public Future<Channel> connectTcp(EventLoop loop, InetSocketAddress target, SocketOrigin origin) {
    Promise<Channel> result = loop.newPromise();
    if (!limiter.tryAcquireConnection()) {
      listenerMetrics.refused(ListenerMetrics.Scope.PROXY, "upstream", "-", "-",
          ConnectionLimiter.Limit.CONNECTIONS);
      result.setFailure(new ConnectionLimitException("ztunnel holds " + limiter.connections()
          + " sockets for pod traffic, its limit (--max-connections " + limiter.maxConnections()
          + "); not connecting to " + NetUtil.toSocketAddressString(target)));
      return result;
    }
    Bootstrap b = new Bootstrap()
        .group(loop)
        .channel(transport.socketChannelClass())
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS,
            (int) Math.min(Integer.MAX_VALUE, limits.connectTimeout().toMillis()))
        .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
        .option(ChannelOption.TCP_NODELAY, true)
        .handler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            EarlyDataBuffer.install(ch);
            ch.pipeline().addLast(ConnectingReadGuard.INSTANCE);
          }
        });
    origin.connect(b, target).whenComplete((cf, err) -> {
      if (err != null) {
        limiter.releaseConnection();
        result.tryFailure(err);
        return;
      }
      Channel ch = cf.channel();
      ch.closeFuture().addListener(f -> limiter.releaseConnection());
      connections.add(ch);
      result.addListener(f -> {
        if (f.isCancelled()) {
          ch.close();
        }
      });
      cf.addListener(f -> {
        if (!f.isSuccess()) {
          result.tryFailure(f.cause());
        } else if (!result.trySuccess(ch)) {
          ch.close(); // the caller gave up meanwhile
        }
      });
    });
    return result;
  }

  /** An upstream connection not attempted: the proxy's connection cap is reached. */
  public static final class ConnectionLimitException extends IOException {
    public ConnectionLimitException(String message) {
      super(message);
    }
  }

  /**
   * The proxied TCP connections: accepted on 15001/15006/15080 and opened upstream (also those an
   * inbound HBONE stream relays to). Closed channels leave the group by themselves; shutdown waits
   * for it to empty until the drain deadline, then closes what is left.
   */
  public ChannelGroup connections() {
    return connections;
  }

  /**
   * The HBONE (TLS + HTTP/2) connections accepted on 15008. Not waited for on shutdown — a pooled
   * connection stays open while idle; its live streams are covered by {@link #connections()}.
   */
  public ChannelGroup hboneConnections() {
    return hboneConnections;
  }

  /** Human-readable cause for the access log. */
  public static String describe(Throwable t) {
    if (t == null) {
      return null;
    }
    Throwable c = t;
    while ((c instanceof CompletionException || c instanceof ExecutionException)
        && c.getCause() != null) {
      c = c.getCause();
    }
    if (c instanceof java.nio.channels.NotYetConnectedException) {
      // ENOTCONN from a socket that was connected: the peer reset it before we finished with it
      return "socket no longer connected (reset by peer)";
    }
    String m = c.getMessage();
    return m == null ? c.getClass().getSimpleName() : m;
  }
}
