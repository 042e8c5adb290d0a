package dev.ambientj.hbone;

import dev.ambientj.hbone.identity.SpiffeId;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Waits for the TLS handshake; on success records the peer identity and installs HTTP/2, on
 * failure closes (the TLS alert has been sent). Handshake failures are routine (scanners, wrong
 * CA, plaintext clients) and are logged at debug.
 */
final class ServerHandshakeHandler extends ChannelInboundHandlerAdapter {

  private static final Logger log = LoggerFactory.getLogger(ServerHandshakeHandler.class);

  private final HboneServer server;
  private final java.util.List<Object> early = new java.util.ArrayList<>();

  ServerHandshakeHandler(HboneServer server) {
    this.server = server;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    early.add(msg); // plaintext that TLS decoded before announcing the handshake; replayed below
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
      log.debug("HBONE TLS handshake from {} failed: {}", ch.remoteAddress(), done.cause().toString());
      ch.close();
      return;
    }
    SslHandler tls = ch.pipeline().get(SslHandler.class);
    String alpn = tls.applicationProtocol();
    if (alpn != null && !alpn.equals("h2")) {
      log.debug("HBONE connection from {} negotiated ALPN {}, not h2; closing", ch.remoteAddress(), alpn);
      ch.close();
      return;
    }
    SpiffeId peer;
    try {
      peer = MeshTls.peerIdentity(tls.engine().getSession());
    } catch (Exception e) {
      log.debug("HBONE connection from {}: no verified peer identity: {}", ch.remoteAddress(), e.toString());
      ch.close();
      return;
    }
    installHttp2(ctx, peer);
  }

  /**
   * After a verified handshake: records {@code peer}, installs HTTP/2 after this handler, replays
   * what arrived early and removes this handler. Package-private for the fuzz target, which feeds
   * this pipeline plaintext (HboneServerFuzzTest).
   */
  void installHttp2(ChannelHandlerContext ctx, SpiffeId peer) {
    Channel ch = ctx.channel();
    ch.attr(TunnelChannels.PEER_IDENTITY).set(peer);
    HboneServerConfig c = server.config();
    Http2FrameCodec codec = Http2Tuning.tunnelCodecBuilder(true)
        .initialSettings(Http2Tuning.settings(c.streamWindowSize(), c.maxFrameSize(), c.maxHeaderListSize(),
            c.maxConcurrentStreams()))
        .gracefulShutdownTimeoutMillis(c.drainTimeout().toMillis())
        .build();
    ChannelPipeline p = ch.pipeline();
    String name = ctx.name();
    ChannelHandlerContext tlsContext = p.context(SslHandler.class);
    if (tlsContext != null) { // absent only where a test feeds the bytes after TLS
      p.addAfter(tlsContext.name(), SkipEmptyFlushHandler.NAME, new SkipEmptyFlushHandler());
    }
    p.addAfter(name, "idle", new IdleStateHandler(c.pingInterval().toNanos(), 0, 0, TimeUnit.NANOSECONDS));
    p.addAfter("idle", "keepalive", new KeepaliveHandler(c.pingTimeout().toNanos()));
    p.addAfter("keepalive", "delayed-close", new DelayedCloseHandler());
    p.addAfter("delayed-close", "h2", codec);
    StreamReceiveBudget receiveBudget = new StreamReceiveBudget(c.streamWindowSize());
    ServerConnectionGuard guard = new ServerConnectionGuard(server, peer);
    p.addAfter("h2", StreamReceiveBudget.NAME, receiveBudget);
    p.addAfter(StreamReceiveBudget.NAME, "h2-mux", new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
      @Override
      protected void initChannel(Http2StreamChannel stream) {
        stream.config().setWriteBufferWaterMark(Http2Tuning.STREAM_WATER_MARK);
        receiveBudget.track(stream);
        guard.streamOpened();
        server.streamCounter().incrementAndGet();
        stream.closeFuture().addListener(f -> server.streamCounter().decrementAndGet());
        stream.pipeline().addLast("hbone-connect", new ServerStreamHandler(server, guard));
      }
    }));
    p.addAfter("h2-mux", "hbone-conn", guard);
    for (Object m : early) {
      ctx.fireChannelRead(m);
    }
    early.clear();
    p.remove(this);
    Http2Tuning.growConnectionWindow(ch, c.connectionWindowSize());
    server.track(ch);
    log.debug("HBONE connection from {} as {}", ch.remoteAddress(), peer);
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    log.debug("HBONE connection from {} failed during TLS: {}", ctx.channel().remoteAddress(), cause.toString());
    ctx.close();
  }
}
