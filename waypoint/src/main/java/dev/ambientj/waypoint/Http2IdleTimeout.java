package dev.ambientj.waypoint;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.Http2Connection;
import io.netty.handler.codec.http2.Http2ConnectionAdapter;
import io.netty.handler.codec.http2.Http2Stream;

/**
 * The idle timeout of a downstream HTTP/2 connection (an accepted L7 tunnel), as Envoy's
 * {@code idle_timeout}: once no stream has been open for the timeout the connection is closed —
 * GOAWAY from the codec, then the tunnel's orderly end ({@link GracefulTunnelClose}). The timer
 * runs from the start and whenever the last stream closes; a stream opening stops it. A client
 * trickling one header block never opens a stream (the codec creates it when the block is
 * complete), so the timeout bounds it too. Sits after the HTTP/2 codec; all on the tunnel's loop.
 */
final class Http2IdleTimeout extends ChannelInboundHandlerAdapter {
  private final Http2Connection connection;
  private final WaypointRuntime rt;
  private final long idleNanos;
  private final Deadline deadline = new Deadline();

  Http2IdleTimeout(Http2Connection connection, WaypointRuntime rt) {
    this.connection = connection;
    this.rt = rt;
    this.idleNanos = rt.limits.idleTimeout().toNanos();
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    if (idleNanos <= 0) {
      return;
    }
    connection.addListener(new Http2ConnectionAdapter() {
      @Override
      public void onStreamActive(Http2Stream stream) {
        deadline.cancel();
      }

      @Override
      public void onStreamClosed(Http2Stream stream) {
        if (connection.numActiveStreams() == 0) {
          arm(ctx);
        }
      }
    });
    arm(ctx);
  }

  private void arm(ChannelHandlerContext ctx) {
    deadline.arm(ctx.executor(), idleNanos, () -> {
      if (connection.numActiveStreams() == 0 && ctx.channel().isActive()) {
        rt.limits.stats().idleTimeout();
        ctx.close();
      }
    });
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    deadline.cancel();
    ctx.fireChannelInactive();
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    deadline.cancel();
  }
}
