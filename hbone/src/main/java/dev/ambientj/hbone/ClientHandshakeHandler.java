package dev.ambientj.hbone;

import dev.ambientj.hbone.identity.SpiffeId;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2SettingsFrame;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.ssl.SslHandshakeTimeoutException;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.TimeUnit;
import java.util.ArrayList;
import java.util.List;

/**
 * Client side of connection setup: waits for the TLS handshake (where {@link SpiffeTrustManager}
 * refuses an unexpected server identity before any HTTP/2 byte is sent), records the peer
 * identity, installs HTTP/2 and reports SETTINGS and GOAWAY to the {@link ClientConnection}.
 */
final class ClientHandshakeHandler extends ChannelInboundHandlerAdapter {

  /** PING after this long without a byte from the server; a dead peer is noticed within 9 s. */
  static final java.time.Duration CLIENT_PING_INTERVAL = java.time.Duration.ofSeconds(5);
  static final java.time.Duration CLIENT_PING_TIMEOUT = java.time.Duration.ofSeconds(4);

  private final ClientConnection conn;
  private final List<Object> early = new ArrayList<>();

  ClientHandshakeHandler(ClientConnection conn) {
    this.conn = conn;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    early.add(msg);
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    early.forEach(ReferenceCountUtil::release);
    early.clear();
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (!(evt instanceof SslHandshakeCompletionEvent done)) {
      ctx.fireUserEventTriggered(evt);
      return;
    }
    Channel ch = ctx.channel();
    if (!done.isSuccess()) {
      conn.fail(tlsFailure(done.cause()));
      return;
    }
    SslHandler tls = ch.pipeline().get(SslHandler.class);
    SpiffeId peer;
    try {
      peer = MeshTls.peerIdentity(tls.engine().getSession());
    } catch (Exception e) {
      conn.onHandshakeDone();
      conn.fail(new HboneException(HboneException.Kind.TLS_FAILURE,
          "HBONE peer " + conn.describe() + " has no verified identity: " + e.getMessage(), e));
      return;
    }
    installHttp2(ctx, peer);
  }

  /**
   * After a verified handshake: records {@code peer}, installs HTTP/2 after this handler, replays
   * what arrived early and removes this handler. Package-private for the fuzz target, which feeds
   * this pipeline plaintext (HboneClientFuzzTest).
   */
  void installHttp2(ChannelHandlerContext ctx, SpiffeId peer) {
    Channel ch = ctx.channel();
    conn.onHandshakeDone();
    ch.attr(TunnelChannels.PEER_IDENTITY).set(peer);
    HboneClientConfig c = conn.config();
    Http2FrameCodec codec = Http2Tuning.tunnelCodecBuilder(false)
        .initialSettings(Http2Tuning.settings(c.streamWindowSize(), c.maxFrameSize(), c.maxHeaderListSize(), null))
        .build();
    ChannelPipeline p = ch.pipeline();
    ChannelHandlerContext tlsContext = p.context(SslHandler.class);
    if (tlsContext != null) { // absent only where a test feeds the bytes after TLS
      p.addAfter(tlsContext.name(), SkipEmptyFlushHandler.NAME, new SkipEmptyFlushHandler());
    }
    // Same keepalive as the server side, so a pooled connection to a vanished peer is noticed
    // (and evicted) within interval + timeout instead of failing the next stream.
    p.addAfter(ctx.name(), "idle", new IdleStateHandler(CLIENT_PING_INTERVAL.toNanos(), 0, 0, TimeUnit.NANOSECONDS));
    p.addAfter("idle", "keepalive", new KeepaliveHandler(CLIENT_PING_TIMEOUT.toNanos()));
    p.addAfter("keepalive", "h2", codec);
    p.addAfter("h2", StreamReceiveBudget.NAME, new StreamReceiveBudget(c.streamWindowSize()));
    p.addAfter(StreamReceiveBudget.NAME, "h2-mux", new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
    p.addAfter("h2-mux", "hbone-conn", new Tail(conn));
    for (Object m : early) {
      ctx.fireChannelRead(m);
    }
    early.clear();
    p.remove(this);
    Http2Tuning.growConnectionWindow(ch, c.connectionWindowSize());
  }

  private HboneException tlsFailure(Throwable cause) {
    for (Throwable t = cause; t != null; t = t.getCause()) {
      if (t instanceof SpiffeTrustManager.IdentityMismatchException m) {
        return new HboneException(HboneException.Kind.IDENTITY_MISMATCH,
            "HBONE peer " + HboneException.addr(conn.describeAddress()) + " refused: " + m.getMessage(), cause);
      }
    }
    if (cause instanceof java.io.IOException && !(cause instanceof javax.net.ssl.SSLException)) {
      // reset or closed before the server's first TLS record: a ztunnel without a certificate
      // for that identity yet (its CA unreachable), or one shutting down
      return new HboneException(HboneException.Kind.TLS_FAILURE,
          "TLS handshake with " + conn.describe() + " failed: " + rootMessage(cause)
              + " — the server closed the connection before answering: it may have no"
              + " certificate for that identity yet (is its CA unreachable?)", cause);
    }
    if (cause instanceof SslHandshakeTimeoutException) {
      return new HboneException(HboneException.Kind.TLS_FAILURE,
          "TLS handshake with " + conn.describe() + " timed out — is something other than an HBONE server listening there?",
          cause);
    }
    return new HboneException(HboneException.Kind.TLS_FAILURE,
        "TLS handshake with " + conn.describe() + " failed: " + rootMessage(cause)
            + " — do both sides share a root CA and trust domain?", cause);
  }

  private static String rootMessage(Throwable t) {
    String msg = t.getMessage();
    for (Throwable c = t.getCause(); c != null; c = c.getCause()) {
      if (c.getMessage() != null) {
        msg = c.getMessage();
      }
    }
    return msg;
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    conn.fail(tlsFailure(cause));
  }

  /** Connection-level frames after the multiplexer. */
  static final class Tail extends ChannelInboundHandlerAdapter {
    private final ClientConnection conn;

    Tail(ClientConnection conn) {
      this.conn = conn;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      try {
        if (msg instanceof Http2SettingsFrame s) {
          conn.onSettings(s.settings());
        } else if (msg instanceof Http2GoAwayFrame g) {
          conn.onGoAway(g.errorCode());
        }
      } finally {
        ReferenceCountUtil.release(msg);
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      HboneException e = new HboneException(HboneException.Kind.PROTOCOL_ERROR,
          "HBONE connection to " + conn.describe() + " failed: " + cause, cause);
      // every tunnel on it fails with it, each saying so; this says it once, for the operator
      org.slf4j.LoggerFactory.getLogger(ClientConnection.class).warn(e.getMessage());
      conn.fail(e);
    }
  }
}
