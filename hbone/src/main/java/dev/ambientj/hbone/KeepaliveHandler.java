package dev.ambientj.hbone;

import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http2.DefaultHttp2PingFrame;
import io.netty.handler.timeout.IdleState;
import io.netty.handler.timeout.IdleStateEvent;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.ScheduledFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * HTTP/2 keepalive as hyper does it for ztunnel's server: when nothing has been read for the ping
 * interval (an {@code IdleStateHandler} in front says so), send a PING; if still nothing has been
 * read when the ping timeout passes, close the connection abruptly (below the HTTP/2 codec, so
 * without its graceful wait for streams). Any inbound byte counts as
 * liveness, the PING ack included.
 *
 * <p>Sits between the TLS handler and the HTTP/2 codec, so it sees plaintext {@code ByteBuf}s
 * (passed on untouched) and writes its PING from the tail so that the codec encodes it.
 */
final class KeepaliveHandler extends ChannelDuplexHandler {

  private static final Logger log = LoggerFactory.getLogger(KeepaliveHandler.class);

  private final long timeoutNanos;
  private ScheduledFuture<?> timeout;

  KeepaliveHandler(long timeoutNanos) {
    this.timeoutNanos = timeoutNanos;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (timeout != null) {
      timeout.cancel(false);
      timeout = null;
    }
    ctx.fireChannelRead(msg);
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
    if (evt instanceof IdleStateEvent e && e.state() == IdleState.READER_IDLE) {
      if (timeout == null && ctx.channel().isActive()) {
        ctx.channel().writeAndFlush(new DefaultHttp2PingFrame(ThreadLocalRandom.current().nextLong()));
        timeout = ctx.executor().schedule(() -> {
          String why = "no answer to PING within " + TimeUnit.NANOSECONDS.toMillis(timeoutNanos) + " ms";
          log.info("closing HBONE connection with {}: {}", ctx.channel().remoteAddress(), why);
          TunnelChannels.recordConnectionFailure(ctx.channel(), new HboneException(
              HboneException.Kind.CONNECTION_CLOSED, why));
          // From here, not from the channel: a close from the tail would reach the HTTP/2 codec,
          // whose graceful close waits for the streams (up to the drain timeout) — the streams of
          // a dead peer, which will never end.
          ctx.close();
        }, timeoutNanos, TimeUnit.NANOSECONDS);
      }
      return;
    }
    super.userEventTriggered(ctx, evt);
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) throws Exception {
    if (timeout != null) {
      timeout.cancel(false);
      timeout = null;
    }
    super.channelInactive(ctx);
  }
}
