package dev.ambientj.waypoint.cluster;

import dev.ambientj.config.model.Workload;
import java.net.InetAddress;

/**
 * One endpoint of a cluster: a workload, the address to reach it at (HBONE to
 * {@code address:15008}, {@code :authority address:targetPort}) and its shared {@link HostState}.
 */
public final class UpstreamHost {
  private final Workload workload;
  private final InetAddress address;
  private final int targetPort;
  final HostState state;

  UpstreamHost(Workload workload, InetAddress address, int targetPort, HostState state) {
    this.workload = workload;
    this.address = address;
    this.targetPort = targetPort;
    this.state = state;
  }

  public Workload workload() {
    return workload;
  }

  public InetAddress address() {
    return address;
  }

  public int targetPort() {
    return targetPort;
  }

  /** {@code ip:port}, the HBONE {@code :authority} and the access log's upstream_host. */
  public String authority() {
    String ip = address.getHostAddress();
    return (ip.indexOf(':') >= 0 ? "[" + ip + "]" : ip) + ":" + targetPort;
  }

  /**
   * An idle upstream HTTP/1.1 connection to this host that is still open, or null. Connections
   * idle for longer than {@link #IDLE_NANOS} are closed instead of reused.
   */
  public io.netty.channel.Channel pollIdle(long now) {
    while (true) {
      HostState.Idle i = state.idle.pollFirst();
      if (i == null) {
        return null;
      }
      if (i.channel().isActive() && !dev.ambientj.hbone.TunnelChannels.isInputShutdown(i.channel())
          && now - i.since() < IDLE_NANOS) {
        return i.channel();
      }
      i.channel().close();
    }
  }

  /** Returns a connection that finished a response and may carry another request. */
  public void offerIdle(io.netty.channel.Channel ch, long now) {
    state.idle.addFirst(new HostState.Idle(ch, now));
  }

  /** Forgets an idle connection (it closed). */
  public void removeIdle(io.netty.channel.Channel ch) {
    state.idle.removeIf(i -> i.channel() == ch);
  }

  /** Idle upstream connections older than this are not reused (Envoy's default idle timeout is 1 h; ours is shorter). */
  public static final long IDLE_NANOS = 60_000_000_000L;

  /** Streams at most per shared HTTP/2 upstream connection (the HBONE server's limit is 100 too). */
  public static final int MAX_H2_STREAMS = 100;

  /**
   * The shared HTTP/2 connection to this host with a free stream slot (the slot is taken), or
   * null when there is none (then the caller connects and may {@link #offerH2} its connection).
   */
  public io.netty.channel.Channel acquireH2() {
    HostState.H2 c = state.h2.get();
    if (c == null || !c.channel().isActive()) {
      return null;
    }
    while (true) {
      int n = c.streams().get();
      if (n >= MAX_H2_STREAMS) {
        return null;
      }
      if (c.streams().compareAndSet(n, n + 1)) {
        return c.channel();
      }
    }
  }

  /**
   * Makes {@code ch} (HTTP/2 codec installed) the shared connection to this host, with one stream
   * taken, unless a live one is already shared (then false: the caller uses {@code ch} for one
   * request and closes it).
   */
  public boolean offerH2(io.netty.channel.Channel ch) {
    HostState.H2 mine = new HostState.H2(ch, new java.util.concurrent.atomic.AtomicInteger(1));
    while (true) {
      HostState.H2 c = state.h2.get();
      if (c != null && c.channel().isActive()) {
        return false;
      }
      if (state.h2.compareAndSet(c, mine)) {
        ch.closeFuture().addListener(f -> state.h2.compareAndSet(mine, null));
        ch.pipeline().addBefore(ch.pipeline().context(io.netty.handler.codec.http2.Http2MultiplexHandler.class).name(),
            "goaway", new io.netty.channel.ChannelInboundHandlerAdapter() {
              @Override
              public void channelRead(io.netty.channel.ChannelHandlerContext ctx, Object msg) {
                if (msg instanceof io.netty.handler.codec.http2.Http2GoAwayFrame) {
                  state.h2.compareAndSet(mine, null);
                }
                ctx.fireChannelRead(msg);
              }
            });
        return true;
      }
    }
  }

  /** Gives back a stream slot of the shared connection {@code ch}. */
  public void releaseH2(io.netty.channel.Channel ch) {
    HostState.H2 c = state.h2.get();
    if (c != null && c.channel() == ch) {
      c.streams().decrementAndGet();
    }
  }

  /** Counts a request in flight to this host (for LEAST_REQUEST). */
  public void requestStarted() {
    state.activeRequests.incrementAndGet();
  }

  public void requestEnded() {
    state.activeRequests.decrementAndGet();
  }

  public int activeRequests() {
    return state.activeRequests.get();
  }

  @Override
  public String toString() {
    return workload.name() + "@" + authority();
  }
}
