package dev.ambientj.hbone;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;

/**
 * Passes a flush on to the TLS handler only when something was written since the last one.
 *
 * <p>Why: the HTTP/2 codec flushes at the end of every read batch whether or not it wrote (its
 * {@code channelReadComplete}), and Netty's {@code SslHandler} answers every flush by wrapping —
 * with nothing pending it wraps an empty buffer: two promises, a listener, an
 * {@code SSLEngineResult} and two NIO buffer views per flush. On a tunnel that relays a request
 * and its response that is one wasted wrap per direction and side (JFR: about a tenth of what the
 * tunnel allocated).
 *
 * <p>Sits right after the {@code SslHandler} (on the HTTP/2 side of it), so every write that
 * reaches TLS passes here first; what TLS writes on its own (handshake, alerts, session tickets)
 * it also flushes on its own. Confined to the channel's event loop; buffers pass through untouched
 * (ownership goes on with the write).
 */
final class SkipEmptyFlushHandler extends ChannelOutboundHandlerAdapter {

  static final String NAME = "hbone-skip-empty-flush";

  private boolean written;

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
    written = true;
    ctx.write(msg, promise);
  }

  @Override
  public void flush(ChannelHandlerContext ctx) {
    if (written) {
      written = false;
      ctx.flush();
    }
  }
}
