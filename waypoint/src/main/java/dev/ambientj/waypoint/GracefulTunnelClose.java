package dev.ambientj.waypoint;

import dev.ambientj.hbone.TunnelChannels;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;

/**
 * Turns a close of a downstream HTTP/2 connection's tunnel into an orderly end: END_STREAM after
 * what was written, then the close once the client has ended too (or after
 * {@link Waypoint#DELAYED_CLOSE_MILLIS}). Netty's HTTP/2 codec closes its channel when a graceful
 * shutdown completes (after GOAWAY both ways); on a tunnel stream a plain close is a RST_STREAM,
 * which the client's ztunnel turns into a TCP reset of the client — losing the last frames. Sits
 * between the tunnel and the HTTP/2 codec.
 */
final class GracefulTunnelClose extends ChannelOutboundHandlerAdapter {
  @Override
  public void close(ChannelHandlerContext ctx, ChannelPromise promise) {
    if (!ctx.channel().isActive() || TunnelChannels.isOutputShutdown(ctx.channel())) {
      ctx.close(promise); // ended already (or the delayed close itself): close now
      return;
    }
    ctx.channel().closeFuture().addListener(f -> promise.trySuccess());
    // END_STREAM from here, toward the tunnel's codec: written from the pipeline's tail it would
    // pass the HTTP/2 codec above, which takes DATA frames for streams of its own
    TunnelChannels.closeAfterPeerEnds(ctx.channel(),
        ctx.writeAndFlush(new DefaultHttp2DataFrame(true)), Waypoint.DELAYED_CLOSE_MILLIS);
  }
}
