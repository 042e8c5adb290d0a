package dev.ambientj.hbone;

import dev.ambientj.hbone.identity.SpiffeId;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The last handler of an HBONE server connection (after the multiplexer): swallows
 * connection-level frames (SETTINGS, PING acks, GOAWAY) and guards the connection.
 *
 * <ul>
 *   <li><b>First request deadline.</b> A client that completes the handshake must send its first
 *       CONNECT within {@link HboneServerConfig#firstRequestTimeout()}, else the connection is
 *       closed (GOAWAY): a handshake alone buys no idle connection.
 *   <li><b>Rapid reset.</b> CONNECTs reset by the peer before their answer are counted in a window
 *       of {@link HboneServerConfig#prematureResetWindow()}; past
 *       {@link HboneServerConfig#prematureResetLimit()} the connection fails with GOAWAY
 *       ENHANCE_YOUR_CALM. Streams reset after their answer (a client aborting a tunnel) do not
 *       count: they cost us nothing we had not already agreed to.
 *   <li><b>Errors.</b> A connection error (the peer broke HTTP/2) is logged once with the peer's
 *       address and identity and the HTTP/2 error, and reported; I/O errors (a reset socket) at
 *       debug. The first cause is kept on the channel, so the tunnels that die with the
 *       connection can say why.
 * </ul>
 *
 * <p>Every method runs on the connection's event loop (its streams share it).
 */
final class ServerConnectionGuard extends ChannelInboundHandlerAdapter {

  private static final Logger log = LoggerFactory.getLogger(ServerConnectionGuard.class);

  private final HboneServer server;
  private final SpiffeId peer;
  private ChannelHandlerContext ctx;
  private ScheduledFuture<?> firstRequestTimer;
  private long resetWindowStart;
  private int resetsInWindow;
  private boolean calmedDown;

  ServerConnectionGuard(HboneServer server, SpiffeId peer) {
    this.server = server;
    this.peer = peer;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
    long nanos = server.config().firstRequestTimeout().toNanos();
    firstRequestTimer = ctx.executor().schedule(() -> {
      String detail = "no CONNECT within " + TimeUnit.NANOSECONDS.toMillis(nanos) + " ms of the TLS handshake";
      log.debug("closing HBONE connection from {} ({}): {}", address(), peer, detail);
      report(HboneServerEvent.Kind.FIRST_REQUEST_TIMEOUT, detail);
      ctx.close(); // the codec sends GOAWAY (nothing is open)
    }, nanos, TimeUnit.NANOSECONDS);
  }

  /** A stream was opened (its HEADERS arrived): the first-request deadline is met. */
  void streamOpened() {
    if (firstRequestTimer != null) {
      firstRequestTimer.cancel(false);
      firstRequestTimer = null;
    }
  }

  /**
   * The peer reset a CONNECT before it was answered. Past the limit, fails the connection with
   * ENHANCE_YOUR_CALM.
   */
  void prematureReset() {
    if (calmedDown) {
      return;
    }
    long now = System.nanoTime();
    if (resetsInWindow == 0 || now - resetWindowStart > server.config().prematureResetWindow().toNanos()) {
      resetWindowStart = now;
      resetsInWindow = 0;
    }
    if (++resetsInWindow <= server.config().prematureResetLimit()) {
      return;
    }
    calmedDown = true;
    String detail = resetsInWindow + " CONNECTs reset before their answer within "
        + server.config().prematureResetWindow().toMillis() + " ms (limit "
        + server.config().prematureResetLimit() + ")";
    log.warn("HBONE connection from {} ({}): {}; sending GOAWAY ENHANCE_YOUR_CALM", address(), peer, detail);
    report(HboneServerEvent.Kind.RAPID_RESET, detail);
    Http2FrameCodec codec = ctx.pipeline().get(Http2FrameCodec.class);
    if (codec == null) {
      ctx.close();
      return;
    }
    // A connection error raised in the codec: GOAWAY(ENHANCE_YOUR_CALM, last stream, detail), then close.
    try {
      codec.exceptionCaught(ctx.pipeline().context(codec),
          Http2Exception.connectionError(Http2Error.ENHANCE_YOUR_CALM, "%s", detail));
    } catch (Exception e) {
      ctx.close();
    }
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    ReferenceCountUtil.release(msg);
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    Channel ch = ctx.channel();
    TunnelChannels.recordConnectionFailure(ch, cause);
    Http2Exception h2 = Http2CodecUtil.getEmbeddedHttp2Exception(cause);
    if (h2 == null) {
      log.debug("HBONE connection from {} ({}) failed: {}", address(), peer, cause.toString());
      ctx.close();
      return;
    }
    if (!calmedDown) { // after our GOAWAY, errors are the tail of the attack we reported
      String detail = "HTTP/2 " + h2.error() + ": " + h2.getMessage();
      log.warn("HBONE connection from {} ({}) failed: {}", address(), peer, detail);
      report(h2.error() == Http2Error.ENHANCE_YOUR_CALM ? HboneServerEvent.Kind.RAPID_RESET
          : HboneServerEvent.Kind.PROTOCOL_ERROR, detail);
    }
    // The codec answers a connection error itself: GOAWAY with the error, then close. Closing here
    // first would send a graceful GOAWAY (NO_ERROR) ahead of it.
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    streamOpened(); // stops the timer
    ctx.fireChannelInactive();
  }

  private void report(HboneServerEvent.Kind kind, String detail) {
    try {
      server.handler().onServerEvent(new HboneServerEvent(kind, address(), peer, detail));
    } catch (RuntimeException e) {
      log.warn("HBONE server event handler failed", e);
    }
  }

  private InetSocketAddress address() {
    return (InetSocketAddress) ctx.channel().remoteAddress();
  }
}
