package dev.ambientj.hbone;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.channel.socket.DuplexChannel;
import java.util.concurrent.TimeUnit;

/**
 * Closes an HBONE server connection the way Envoy's "delayed close" does: what we wrote last (a
 * GOAWAY with its reason) is flushed, our side ends (FIN), nothing more is read, and the socket is
 * closed once the peer hangs up or after {@link #DELAY_MILLIS}. Closing at once while the peer is
 * still sending makes our kernel answer with a TCP reset, and a reset makes the peer's kernel
 * drop what it has not read yet — the GOAWAY ENHANCE_YOUR_CALM that says why. Sits between TLS
 * and the HTTP/2 codec, so it sees the codec's own closes (connection errors, graceful shutdown)
 * as well as everyone else's.
 */
final class DelayedCloseHandler extends ChannelOutboundHandlerAdapter {

  static final long DELAY_MILLIS = 1_000;

  private ChannelPromise closing;

  @Override
  public void close(ChannelHandlerContext ctx, ChannelPromise promise) {
    if (closing != null) { // already on its way: complete with it
      closing.addListener(f -> promise.trySuccess());
      return;
    }
    if (!(ctx.channel() instanceof DuplexChannel duplex) || !ctx.channel().isActive()) {
      ctx.close(promise);
      return;
    }
    closing = promise;
    ctx.channel().config().setAutoRead(false);
    var timer = ctx.executor().schedule(() -> {
      ctx.close(promise);
    }, DELAY_MILLIS, TimeUnit.MILLISECONDS);
    ctx.channel().closeFuture().addListener(f -> {
      timer.cancel(false);
      promise.trySuccess();
    });
    ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(f -> {
      if (f.isSuccess() && duplex.isActive() && !duplex.isOutputShutdown()) {
        duplex.shutdownOutput();
      } else {
        ctx.close(promise);
      }
    });
  }
}
