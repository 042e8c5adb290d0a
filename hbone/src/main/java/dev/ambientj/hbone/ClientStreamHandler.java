package dev.ambientj.hbone;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.util.ReferenceCountUtil;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * One outbound CONNECT until it is answered: 200 → auto-read off, replaced by
 * {@link TunnelStreamCodec}, the future completes with the stream channel; anything else → the
 * future fails with an {@link HboneException} and the stream closes.
 */
final class ClientStreamHandler extends ChannelInboundHandlerAdapter {

  private final ConnectTarget target;
  private final CompletableFuture<Channel> result;
  private final ClientConnection conn;
  private ScheduledFuture<?> timer;

  ClientStreamHandler(ConnectTarget target, CompletableFuture<Channel> result, ClientConnection conn) {
    this.target = target;
    this.result = result;
    this.conn = conn;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    long nanos = conn.config().responseTimeout().toNanos();
    timer = ctx.executor().schedule(() -> fail(ctx, new HboneException(HboneException.Kind.RESPONSE_TIMEOUT,
        "CONNECT " + target.authority() + " via " + conn.describe() + " not answered within "
            + TimeUnit.NANOSECONDS.toMillis(nanos) + " ms")), nanos, TimeUnit.NANOSECONDS);
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof Http2HeadersFrame h) {
      CharSequence status = h.headers().status();
      if (status != null && "200".contentEquals(status)) {
        cancelTimer();
        Channel ch = ctx.channel();
        ch.config().setAutoRead(false);
        ctx.pipeline().replace(this, "hbone-tunnel", new TunnelStreamCodec(h.isEndStream() ? List.of(h) : List.of()));
        if (!result.complete(ch)) {
          ch.close(); // the caller gave up
        }
        return;
      }
      if (status != null && status.length() == 3 && status.charAt(0) == '1') {
        return; // informational, wait for the final answer
      }
      int code;
      try {
        code = Integer.parseInt(String.valueOf(status));
      } catch (NumberFormatException e) {
        code = 0;
      }
      fail(ctx, HboneException.httpStatus(conn.describeAddress(), target.authority(), code));
      return;
    }
    ReferenceCountUtil.release(msg);
    {
      fail(ctx, new HboneException(HboneException.Kind.PROTOCOL_ERROR,
          "CONNECT " + target.authority() + " via " + conn.describe() + ": " + msg.getClass().getSimpleName()
              + " before the response headers"));
    }
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt instanceof Http2ResetFrame r) {
      fail(ctx, HboneException.streamReset("CONNECT " + target.authority() + " via " + conn.describe(), r.errorCode()));
    } else if (evt instanceof Http2GoAwayFrame g) {
      long code = g.errorCode();
      g.release();
      fail(ctx, new HboneException(HboneException.Kind.GOAWAY, "CONNECT " + target.authority() + " via "
          + conn.describe() + " not processed: the server sent GOAWAY (" + HboneException.http2ErrorName(code)
          + "); safe to retry", null, 0, code));
    } else {
      ctx.fireUserEventTriggered(evt);
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    fail(ctx, new HboneException(conn.isGoingAway() ? HboneException.Kind.GOAWAY : HboneException.Kind.CONNECTION_CLOSED,
        "CONNECT " + target.authority() + " via " + conn.describe() + ": stream closed before the response"
            + (conn.isGoingAway() ? " (the server is going away)" : "")));
    ctx.fireChannelInactive();
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    fail(ctx, cause instanceof HboneException he ? he : new HboneException(HboneException.Kind.CONNECTION_CLOSED,
        "CONNECT " + target.authority() + " via " + conn.describe() + " failed: " + cause.getMessage(), cause));
  }

  private void fail(ChannelHandlerContext ctx, HboneException e) {
    cancelTimer();
    result.completeExceptionally(e);
    ctx.close();
  }

  private void cancelTimer() {
    if (timer != null) {
      timer.cancel(false);
      timer = null;
    }
  }
}
