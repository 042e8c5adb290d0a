package dev.ambientj.ztunnel.proxy;

import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.nio.channels.NotYetConnectedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Drops the one spurious error an upstream socket can raise while its connect is still in
 * progress: under a burst of new connections Netty 4.2.18's epoll transport sometimes reports the
 * connecting socket readable, reads, and fires {@link NotYetConnectedException}. The connect itself
 * goes on and completes (or fails through its own future), so the error means nothing; unhandled it
 * reached the pipeline's tail as a warning (5 to 8 in 2,000 connections through the demo). Any
 * other error, and every error once the channel is active, passes on.
 */
@ChannelHandler.Sharable
final class ConnectingReadGuard extends ChannelInboundHandlerAdapter {
  static final ConnectingReadGuard INSTANCE = new ConnectingReadGuard();
  private static final Logger log = LoggerFactory.getLogger(ConnectingReadGuard.class);

  private ConnectingReadGuard() {}

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    if (cause instanceof NotYetConnectedException && !ctx.channel().isActive()) {
      log.debug("{}: read while still connecting (ignored)", ctx.channel());
      return;
    }
    ctx.fireExceptionCaught(cause);
  }
}
