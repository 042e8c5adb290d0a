package dev.ambientj.ztunnel.proxy;

import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.socket.DuplexChannel;

/**
 * Drops {@code read()} requests on a TCP channel whose input has already ended (peer FIN seen).
 *
 * <p>Why: with Netty 4.2.18's epoll transport, a relay that paused reading (auto-read off, for
 * back-pressure) and switches it back on after the peer's FIN arrived gets
 * {@code epoll_ctl(..) failed with error(-2): ENOENT}, and the relay resets both sides — losing the
 * data still in flight the other way (seen with a 24 MiB echo, client half-closing early). There is
 * nothing left to read after a FIN, so swallowing the read is exact. {@code setAutoRead(true)} and
 * {@code Channel.read()} both pass through the pipeline, so this guard sees every such request.
 */
@ChannelHandler.Sharable
public final class InputShutdownReadGuard extends ChannelOutboundHandlerAdapter {
  public static final InputShutdownReadGuard INSTANCE = new InputShutdownReadGuard();
  static final String NAME = "ztunnel-read-guard";

  private InputShutdownReadGuard() {}

  /** Adds the guard at the head side of {@code ch}'s pipeline. */
  public static void install(io.netty.channel.Channel ch) {
    ch.pipeline().addFirst(NAME, INSTANCE);
  }

  @Override
  public void read(ChannelHandlerContext ctx) {
    if (ctx.channel() instanceof DuplexChannel d && d.isInputShutdown()) {
      return;
    }
    ctx.read();
  }
}
