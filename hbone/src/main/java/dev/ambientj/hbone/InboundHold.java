package dev.ambientj.hbone;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayDeque;

/**
 * Keeps inbound messages, the end of input and the first error of a channel until the relay is
 * attached ({@link Relay#holdInbound}). Owns the held messages: they are either replayed (ownership
 * passes down the pipeline) or released when the channel closes or the handler is removed.
 */
final class InboundHold extends ChannelInboundHandlerAdapter {

  static final String NAME = "hbone-hold";

  private final ArrayDeque<Object> held = new ArrayDeque<>();
  private boolean inputShutdown;
  private Throwable error;
  private ChannelHandlerContext ctx;

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    held.add(msg);
  }

  @Override
  public void channelReadComplete(ChannelHandlerContext ctx) {
    // swallowed: the replay fires its own
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt instanceof ChannelInputShutdownEvent) {
      inputShutdown = true;
    } else {
      ctx.fireUserEventTriggered(evt);
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    if (error == null) {
      error = cause;
    }
  }

  /** Replays everything held to the handlers after this one and removes this handler. On the channel's loop. */
  void handOver() {
    ChannelHandlerContext c = ctx;
    boolean any = !held.isEmpty();
    for (Object m; (m = held.poll()) != null; ) {
      c.fireChannelRead(m);
    }
    if (any) {
      c.fireChannelReadComplete();
    }
    if (inputShutdown) {
      c.fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
    }
    if (error != null) {
      c.fireExceptionCaught(error);
    }
    c.pipeline().remove(this);
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    for (Object m; (m = held.poll()) != null; ) {
      ReferenceCountUtil.release(m);
    }
  }
}
