package dev.ambientj.config.server;

import io.grpc.netty.NettyServerBuilder;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the config server's listeners share so that they draw on one budget: the event loops, the
 * {@link ConnectionGate} (caps, handshake deadline, accept backoff) and the {@link ServerLimits}
 * every gRPC server built on it applies ({@link #configure}). One guard serves the plaintext and
 * the TLS listener of {@code mesh config-server}; the connection cap is for both together.
 *
 * <p>Its own event loops rather than gRPC's shared ones, because a connection cap must see each
 * accepted socket before gRPC does, which takes a handler on the listening channel, which gRPC
 * allows only with a channel factory, which it accepts only with event loop groups of one's own.
 * Transport: NIO (the config server's traffic is small; one transport everywhere, no native
 * library). One accepting thread for every listener, so the gate's state needs no lock.
 *
 * <p>There is no metrics endpoint on the config server: the counts are logged every minute when
 * they changed ({@code config server connections: …}) and when it stops, and read by {@link
 * #stats}.
 */
public final class ConnectionGuard implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ConnectionGuard.class);
  static final Duration STATS_LOG_INTERVAL = Duration.ofMinutes(1);

  private final ServerLimits limits;
  private final EventLoopGroup boss;
  private final EventLoopGroup workers;
  private final ConnectionGate gate;
  private ConnectionGate.Stats logged;

  private ConnectionGuard(ServerLimits limits) {
    this.limits = limits;
    this.boss = new MultiThreadIoEventLoopGroup(1,
        new DefaultThreadFactory("config-server-accept", true), NioIoHandler.newFactory());
    this.workers = new MultiThreadIoEventLoopGroup(Math.max(2,
        Runtime.getRuntime().availableProcessors()),
        new DefaultThreadFactory("config-server-io", true), NioIoHandler.newFactory());
    EventLoop loop = boss.next();
    long fdLimit = ServerLimits.processDescriptorLimit();
    int cap = limits.effectiveMaxConnections(fdLimit);
    if (limits.maxConnections() > cap) {
      log.warn("--max-connections {} is more than the descriptor limit {} leaves after keeping {}"
          + " for the config server's own work; using {}", limits.maxConnections(), fdLimit,
          ServerLimits.descriptorReserve(fdLimit), cap);
    }
    this.gate = new ConnectionGate(loop, cap, limits.maxConnectionsPerClient(),
        limits.maxPendingHandshakes(), limits.handshakeTimeout().toNanos());
    loop.scheduleAtFixedRate(this::logStats, STATS_LOG_INTERVAL.toSeconds(),
        STATS_LOG_INTERVAL.toSeconds(), TimeUnit.SECONDS);
  }

  /** Starts the event loops; {@link #close} stops them (after the servers using them). */
  public static ConnectionGuard start(ServerLimits limits) {
    return new ConnectionGuard(Objects.requireNonNull(limits, "limits"));
  }

  public ServerLimits limits() {
    return limits;
  }

  /** The connection cap in force (the limits' cap, lowered to the descriptor budget). */
  public int maxConnections() {
    return gate.maxConnections();
  }

  /** The counts since start, as the periodic log line gives them. */
  public String stats() {
    return describe(gate.stats());
  }

  ConnectionGate.Stats gateStats() {
    return gate.stats();
  }

  /** Builds {@code b} on this guard: its loops, the gate on every listener, the limits. */
  void configure(NettyServerBuilder b) {
    b.bossEventLoopGroup(boss).workerEventLoopGroup(workers)
        .channelFactory(() -> {
          NioServerSocketChannel listener = new NioServerSocketChannel();
          listener.pipeline().addLast(gate); // before the acceptor ServerBootstrap adds
          return listener;
        })
        .addTransportFilter(gate.readiness())
        // The gate closes connections at the handshake deadline; gRPC's own is a backstop.
        .handshakeTimeout(limits.handshakeTimeout().toMillis() + 1000, TimeUnit.MILLISECONDS)
        .maxConnectionIdle(limits.idleTimeout().toNanos(), TimeUnit.NANOSECONDS)
        .keepAliveTime(limits.keepAliveTime().toNanos(), TimeUnit.NANOSECONDS)
        .keepAliveTimeout(limits.keepAliveTimeout().toNanos(), TimeUnit.NANOSECONDS)
        .permitKeepAliveTime(limits.permitKeepAliveTime().toNanos(), TimeUnit.NANOSECONDS)
        .permitKeepAliveWithoutCalls(true)
        .maxConcurrentCallsPerConnection(limits.maxCallsPerConnection())
        .maxInboundMessageSize(limits.maxRequestBytes())
        .maxRstFramesPerWindow(limits.maxResetsPerWindow(),
            (int) limits.resetWindow().toSeconds());
  }

  private void logStats() {
    ConnectionGate.Stats now = gate.stats();
    if (!now.equals(logged)) {
      logged = now;
      log.info("config server connections: {}", describe(now));
    }
  }

  private String describe(ConnectionGate.Stats s) {
    return s.open() + " open (peak " + s.peakOpen() + ", cap " + gate.maxConnections() + "), "
        + s.pendingHandshakes() + " in their handshake, " + s.closing()
        + " being closed; since start " + s.accepted()
        + " accepted, " + s.refusedPerClient() + " refused over the per-client cap, "
        + s.refusedTotal() + " refused over the total cap, " + s.evictedInHandshake()
        + " closed in their handshake to admit newer ones, " + s.handshakeTimeouts()
        + " closed at the handshake deadline, " + s.closedInHandshake()
        + " ended during their handshake, " + s.acceptFailures() + " accept failures";
  }

  /** Stops the event loops, logging the final counts; close the servers built on it first. */
  @Override
  public void close() {
    log.info("config server connections at stop: {}", describe(gate.stats()));
    boss.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    workers.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }
}
