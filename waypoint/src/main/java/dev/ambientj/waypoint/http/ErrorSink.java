package dev.ambientj.waypoint.http;

import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The last handler of a tunnel's pipeline: an error that reaches it (a peer reset, an I/O error)
 * closes the channel and is logged at debug, instead of Netty's "reached the tail" warning.
 * Untrusted input never throws across an event loop.
 */
@ChannelHandler.Sharable
public final class ErrorSink extends ChannelInboundHandlerAdapter {
  public static final ErrorSink INSTANCE = new ErrorSink();
  private static final Logger log = LoggerFactory.getLogger(ErrorSink.class);

  private ErrorSink() {}

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    log.debug("{}: {}", ctx.channel(), cause.toString());
    ctx.close();
  }
}
