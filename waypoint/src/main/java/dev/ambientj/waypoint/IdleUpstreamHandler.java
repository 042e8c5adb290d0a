package dev.ambientj.waypoint;

import dev.ambientj.waypoint.cluster.UpstreamHost;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;

/**
 * Sits where {@link UpstreamHandler} was while an upstream HTTP/1.1 connection waits in its host's
 * idle pool: anything the server sends now is unexpected (dropped, connection closed); a close
 * removes the connection from the pool.
 */
final class IdleUpstreamHandler extends ChannelInboundHandlerAdapter {
  private final UpstreamHost host;

  IdleUpstreamHandler(UpstreamHost host) {
    this.host = host;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    ReferenceCountUtil.release(msg);
    host.removeIdle(ctx.channel());
    ctx.close();
  }

  /** The server ended its side (END_STREAM / FIN) while idle: the connection cannot be reused. */
  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt instanceof io.netty.channel.socket.ChannelInputShutdownEvent
        || evt instanceof io.netty.channel.socket.ChannelInputShutdownReadComplete) {
      host.removeIdle(ctx.channel());
      ctx.close();
      return;
    }
    ctx.fireUserEventTriggered(evt);
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    host.removeIdle(ctx.channel());
    ctx.fireChannelInactive();
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    host.removeIdle(ctx.channel());
    ctx.close();
  }
}
