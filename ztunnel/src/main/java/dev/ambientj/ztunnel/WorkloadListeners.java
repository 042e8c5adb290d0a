package dev.ambientj.ztunnel;

import dev.ambientj.config.model.Workload;
import dev.ambientj.hbone.HboneServer;
import dev.ambientj.hbone.HboneServerConfig;
import dev.ambientj.hbone.TunnelChannels;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.hbone.transport.ConnectionLimiter;
import dev.ambientj.hbone.transport.Transport;
import dev.ambientj.ztunnel.inbound.InboundHboneHandler;
import dev.ambientj.ztunnel.inbound.PlaintextInboundInitializer;
import dev.ambientj.ztunnel.outbound.OutboundInitializers;
import dev.ambientj.ztunnel.outbound.OutboundProxy;
import dev.ambientj.ztunnel.proxy.Ports;
import dev.ambientj.ztunnel.proxy.ProxyContext;
import dev.ambientj.ztunnel.telemetry.ListenerMetrics;
import dev.ambientj.ztunnel.telemetry.Reporter;
import dev.ambientj.ztunnel.telemetry.TrafficMetrics;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.nio.NioChannelOption;
import io.netty.channel.unix.UnixChannelOption;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The four listeners of one local workload, on its address: 15008 HBONE inbound, 15006 inbound
 * plaintext, 15001 outbound capture, 15080 SOCKS5. Bound through the {@link ListenerBinder} seam.
 *
 * <p>Lifecycle: {@link #open()} binds all four (asynchronously; a failure is logged with workload
 * and port, and {@link #failed()} tells the manager to retry on the next snapshot); {@link #close()}
 * drains: the listeners stop accepting, HBONE connections get GOAWAY, and established connections
 * continue until they end.
 */
final class WorkloadListeners {
  private static final Logger log = LoggerFactory.getLogger(WorkloadListeners.class);

  private final ProxyContext ctx;
  private final Workload workload;
  private final InetAddress address;
  private final HboneServer hboneServer;
  private final OutboundProxy outbound;
  private final List<Channel> bound = new ArrayList<>();
  private final List<ChannelFuture> binds = new ArrayList<>();
  private final List<AutoCloseable> meters = new ArrayList<>();
  private volatile boolean failed;
  private final CompletableFuture<Boolean> opened = new CompletableFuture<>();
  private volatile boolean closed;

  WorkloadListeners(ProxyContext ctx, HboneServerConfig hboneConfig, OutboundProxy outbound,
      Workload workload, InetAddress address) {
    this.ctx = ctx;
    this.workload = workload;
    this.address = address;
    this.outbound = outbound;
    this.hboneServer = HboneServer.create(hboneConfig, ctx.identities(),
        SpiffeId.parse(workload.spiffeId()), new InboundHboneHandler(ctx, workload.uid()));
  }

  Workload workload() {
    return workload;
  }

  InetAddress address() {
    return address;
  }

  /** Starts binding; the future completes when every bind has finished (successfully or not). */
  synchronized CompletableFuture<Void> open() {
    String uid = workload.uid();
    bind(Ports.HBONE, hboneServer.childInitializer(), ctx.hboneConnections());
    bind(Ports.INBOUND_PLAINTEXT, new PlaintextInboundInitializer(ctx, uid), ctx.connections());
    bind(Ports.OUTBOUND, OutboundInitializers.capture(ctx, outbound, uid), ctx.connections());
    bind(Ports.SOCKS5, OutboundInitializers.socks5(ctx, outbound, uid), ctx.connections());
    CompletableFuture<?>[] all = binds.stream().map(f -> {
      CompletableFuture<Void> done = new CompletableFuture<>();
      f.addListener(x -> done.complete(null));
      return done;
    }).toArray(CompletableFuture[]::new);
    CompletableFuture<Void> done = CompletableFuture.allOf(all);
    done.whenComplete((v, e) -> opened.complete(!failed));
    return done;
  }

  /** Completes once every bind has finished: true if all succeeded. */
  CompletableFuture<Boolean> opened() {
    return opened;
  }

  /**
   * Binds one listener. Each has its own caps, a child of the proxy's: an accepted connection
   * over either is reset at once and counted; the others count as in a handshake phase until their
   * relay starts (15080, 15001) or their TLS handshake completes (15008). 15006 has no client-held
   * phase (the upstream connect starts on accept and has its deadline), so it counts as open only.
   */
  private void bind(int port, ChannelHandler childHandler, ChannelGroup tracked) {
    String name = listenerName(port);
    String where = NetUtil.toSocketAddressString(new InetSocketAddress(address, port)) + " ("
        + workload.namespace() + "/" + workload.name() + " " + name + ")";
    ConnectionLimiter limiter = ctx.limiter().child("listener " + where,
        ctx.limits().listenerMaxConnections(), ctx.limits().listenerMaxHandshakes());
    meters.add(ctx.listenerMetrics().listener(limiter, name, workload.namespace(),
        workload.name()));
    RefusalLog refusals = new RefusalLog(where, limiter);
    boolean handshakePhase = port != Ports.INBOUND_PLAINTEXT;
    ServerBootstrap b = new ServerBootstrap()
        .group(ctx.group())
        .channel(ctx.transport().serverChannelClass())
        .option(ChannelOption.SO_REUSEADDR, true)
        .option(reusePort(ctx.transport()), true) // a successor binds beside us: see ListenerHandover
        .handler(ctx.acceptBackoff().handler(where))
        .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
        .childOption(ChannelOption.TCP_NODELAY, true)
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            ConnectionLimiter.Refusal refused = limiter.admit(ch, handshakePhase);
            if (refused != null) {
              ctx.listenerMetrics().refused(refused.limiter() == limiter
                      ? ListenerMetrics.Scope.LISTENER : ListenerMetrics.Scope.PROXY, name,
                  workload.namespace(), workload.name(), refused.limit());
              refusals.refused(refused);
              ConnectionLimiter.reset(ch);
              return;
            }
            tracked.add(ch);
            if (port == Ports.HBONE) {
              ch.pipeline().addLast(HalfClosedHandshakeGuard.INSTANCE);
            }
            ch.pipeline().addLast(childHandler);
            if (port == Ports.HBONE) {
              watchHandshake(ch);
            }
          }
        });
    ChannelFuture f = ctx.binder().bind(b, workload, address, port);
    binds.add(f);
    f.addListener(x -> {
      if (x.isSuccess()) {
        onBound(f.channel());
      } else {
        failed = true;
        log.warn("cannot listen for workload {}/{} on {}:{}: {} (will retry on the next config update)",
            workload.namespace(), workload.name(), address.getHostAddress(), port,
            ProxyContext.describe(x.cause()));
      }
    });
  }

  /**
   * Counts and logs an HBONE connection whose TLS handshake failed (untrusted CA, expired
   * certificate, another trust domain, plaintext…): hbone closes it; we record why. The server's
   * initializer has just added the {@code SslHandler} (when the certificate was ready; otherwise a
   * connection that closes without a verified peer is counted the same way).
   */
  private void watchHandshake(Channel ch) {
    SslHandler tls = ch.pipeline().get(SslHandler.class);
    if (tls != null) {
      tls.handshakeFuture().addListener(f -> {
        if (f.isSuccess()) {
          ConnectionLimiter.handshakeDone(ch);
        } else {
          handshakeFailed(ch, f.cause());
        }
      });
    } else {
      ch.closeFuture().addListener(f -> {
        if (TunnelChannels.peerIdentity(ch).isEmpty()) {
          handshakeFailed(ch, null);
        }
      });
    }
  }

  private void handshakeFailed(Channel ch, Throwable cause) {
    String reason = HandshakeFailures.reason(cause);
    ctx.metrics().failed(TrafficMetrics.FLAG_TLS_FAILURE, reason);
    String message = "TLS handshake failed (" + reason + "): "
        + (cause == null ? "closed before the handshake completed" : ProxyContext.describe(cause));
    ctx.telemetry(Reporter.DESTINATION, workload.uid())
        .source((InetSocketAddress) ch.remoteAddress(), null, null)
        .destination((InetSocketAddress) ch.localAddress(), ctx.infos().labels(workload),
            workload.spiffeId())
        .closed(0, 0, message, TrafficMetrics.FLAG_TLS_FAILURE);
  }

  private synchronized void onBound(Channel ch) {
    if (closed) {
      ch.close();
    } else {
      bound.add(ch);
    }
  }

  boolean failed() {
    return failed;
  }

  /** The listening sockets bound now. */
  synchronized List<Channel> listening() {
    return List.copyOf(bound);
  }

  /** Whether every bind has finished. */
  synchronized boolean settled() {
    return binds.stream().allMatch(ChannelFuture::isDone);
  }

  /** Stops accepting and drains; returns when the listening sockets are closed. */
  void close() {
    List<Channel> toClose;
    synchronized (this) {
      closed = true;
      toClose = List.copyOf(bound);
      bound.clear();
    }
    for (Channel ch : toClose) {
      ch.close().awaitUninterruptibly();
    }
    hboneServer.drain();
    for (AutoCloseable m : meters) {
      try {
        m.close();
      } catch (Exception e) {
        log.debug("removing the meters of {}", this, e);
      }
    }
  }

  /**
   * Closes an HBONE connection whose client ends its output before the TLS handshake is done: it
   * can never finish the handshake, and with half-closure allowed the socket would otherwise wait
   * for the handshake timeout (5,000 connect-and-close calls held 1,125 sockets for 10 s).
   */
  @ChannelHandler.Sharable
  static final class HalfClosedHandshakeGuard extends ChannelInboundHandlerAdapter {
    static final HalfClosedHandshakeGuard INSTANCE = new HalfClosedHandshakeGuard();

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
      if (evt instanceof ChannelInputShutdownEvent && ConnectionLimiter.inHandshake(ctx.channel())) {
        ctx.close();
        return;
      }
      ctx.fireUserEventTriggered(evt);
    }
  }

  /** {@code SO_REUSEPORT} as the transport's bootstrap option. */
  static ChannelOption<Boolean> reusePort(Transport transport) {
    return transport.kind() == Transport.Kind.NIO
        ? NioChannelOption.of(StandardSocketOptions.SO_REUSEPORT)
        : UnixChannelOption.SO_REUSEPORT;
  }

  /** The {@code listener} label of a workload port. */
  static String listenerName(int port) {
    return switch (port) {
      case Ports.HBONE -> "hbone";
      case Ports.INBOUND_PLAINTEXT -> "inbound_plaintext";
      case Ports.OUTBOUND -> "outbound";
      case Ports.SOCKS5 -> "socks5";
      default -> String.valueOf(port);
    };
  }

  /**
   * Logs refusals of one listener at most once per {@link #INTERVAL}, with the count since the
   * last line: a flood refused at a cap writes a line every half minute, not one per connection.
   */
  private static final class RefusalLog {
    static final Duration INTERVAL = Duration.ofSeconds(30);
    private final String where;
    private final ConnectionLimiter listener;
    private final AtomicLong refusedSinceLog = new AtomicLong();
    private final AtomicLong nextLogNanos = new AtomicLong(System.nanoTime());

    RefusalLog(String where, ConnectionLimiter listener) {
      this.where = where;
      this.listener = listener;
    }

    void refused(ConnectionLimiter.Refusal refusal) {
      refusedSinceLog.incrementAndGet();
      long now = System.nanoTime();
      long next = nextLogNanos.get();
      if (now - next >= 0 && nextLogNanos.compareAndSet(next, now + INTERVAL.toNanos())) {
        boolean own = refusal.limiter() == listener;
        boolean connections = refusal.limit() == ConnectionLimiter.Limit.CONNECTIONS;
        String kind = connections ? "connections" : "handshakes";
        log.warn("{}: refusing connections: {} limit of {} {} is reached ({} refused since the"
                + " last such line; --max-{}{} raises it if this traffic is legitimate)", where,
            own ? "this listener's" : "ztunnel's", connections
                ? refusal.limiter().maxConnections() : refusal.limiter().maxHandshakes(), kind,
            refusedSinceLog.getAndSet(0), own ? "listener-" : "", kind);
      }
    }
  }

  @Override
  public String toString() {
    return workload.namespace() + "/" + workload.name() + "@" + address.getHostAddress();
  }
}
