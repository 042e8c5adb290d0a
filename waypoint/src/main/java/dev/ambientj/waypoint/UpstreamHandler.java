package dev.ambientj.waypoint;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpObject;
import io.netty.util.ReferenceCountUtil;

/**
 * The tail of an upstream try's pipeline (after the HTTP/1.1 client codec, or the HTTP/2 stream
 * codec): hands every response object to the {@link Exchange} on the exchange's event loop, and
 * reports the channel going away. Ownership of each {@link HttpObject} passes to the exchange.
 */
final class UpstreamHandler extends ChannelInboundHandlerAdapter {
  private final Exchange.Attempt attempt;

  UpstreamHandler(Exchange.Attempt attempt) {
    this.attempt = attempt;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof HttpObject o) {
      attempt.onMessage(o);
    } else {
      ReferenceCountUtil.release(msg);
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    attempt.onClosed(null);
    ctx.fireChannelInactive();
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    attempt.onClosed(cause);
    ctx.close();
  }
}
