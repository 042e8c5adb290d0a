package dev.ambientj.ztunnel.proxy;

import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.hbone.HboneClient;
import dev.ambientj.hbone.identity.IdentityProvider;
import dev.ambientj.hbone.transport.SocketOrigin;
import dev.ambientj.hbone.transport.Transport;
import dev.ambientj.ztunnel.ListenerBinder;
import dev.ambientj.ztunnel.authz.PolicyState;
import dev.ambientj.ztunnel.authz.PolicyStates;
import dev.ambientj.ztunnel.telemetry.AccessLog;
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
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.netty.util.concurrent.Promise;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.random.RandomGenerator;

/**
 * Everything one ztunnel's data path shares: config, identities, the HBONE client pool, event
 * loops, telemetry and the binding seam. Immutable after construction; safe from any thread.
 */
public final class ProxyContext {
  /** Upstream TCP connect timeout (ztunnel's {@code CONNECTION_TIMEOUT}). */
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
  private final PolicyStates policies;
  private final RandomGenerator random;
  private final ChannelGroup connections =
      new DefaultChannelGroup("ztunnel-connections", GlobalEventExecutor.INSTANCE);
  private final ChannelGroup hboneConnections =
      new DefaultChannelGroup("ztunnel-hbone-connections", GlobalEventExecutor.INSTANCE);

  public ProxyContext(String node, SnapshotPublisher config, IdentityProvider identities,
      Transport transport, EventLoopGroup group, HboneClient hboneClient, ListenerBinder binder,
      TrafficMetrics metrics, AccessLog accessLog, WorkloadInfoCache infos, RandomGenerator random,
      String rootNamespace) {
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

  public ConnectionTelemetry telemetry(Reporter reporter) {
    return new ConnectionTelemetry(metrics, accessLog, reporter);
  }

  /**
   * Connects a plain TCP upstream on {@code loop} (the downstream's, so the relay needs no
   * cross-thread hand-off), with its socket created where {@code origin} says (in-pod mode: inside
   * the pod's network namespace, marked so it is not captured again). What the upstream sends
   * before the relay starts is held by an {@link EarlyDataBuffer}; half-closure is allowed. The
   * future completes on {@code loop} with the connected channel. Cancelling it abandons the
   * connect: the socket is closed (at once, or as soon as it exists).
   */
  public Future<Channel> connectTcp(EventLoop loop, InetSocketAddress target, SocketOrigin origin) {
    Bootstrap b = new Bootstrap()
        .group(loop)
        .channel(transport.socketChannelClass())
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, CONNECT_TIMEOUT_MILLIS)
        .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
        .option(ChannelOption.TCP_NODELAY, true)
        .handler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            EarlyDataBuffer.install(ch);
            ch.pipeline().addLast(ConnectingReadGuard.INSTANCE);
          }
        });
    Promise<Channel> result = loop.newPromise();
    origin.connect(b, target).whenComplete((cf, err) -> {
      if (err != null) {
        result.tryFailure(err);
        return;
      }
      connections.add(cf.channel());
      result.addListener(f -> {
        if (f.isCancelled()) {
          cf.channel().close();
        }
      });
      cf.addListener(f -> {
        if (f.isSuccess()) {
          result.trySuccess(cf.channel());
        } else {
          result.tryFailure(f.cause());
        }
      });
    });
    return result;
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
