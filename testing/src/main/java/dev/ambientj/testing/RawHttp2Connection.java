package dev.ambientj.testing;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2ConnectionHandler;
import io.netty.handler.codec.http2.Http2ConnectionHandlerBuilder;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameAdapter;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * An HTTP/2-over-mTLS client that writes frames as a misbehaving peer would (CONNECT then
 * RST_STREAM at once, nothing at all after the handshake), with a valid mesh certificate.
 */
public final class RawHttp2Connection implements AutoCloseable {

  public final Channel channel;
  private final Http2ConnectionHandler h2;
  /** The GOAWAY received: its error name and debug text. */
  public final CompletableFuture<String> goAway = new CompletableFuture<>();
  /** {@code :status} of each answered stream, by stream id. */
  public final Map<Integer, String> statuses = new ConcurrentHashMap<>();

  private RawHttp2Connection(Channel channel, Http2ConnectionHandler h2) {
    this.channel = channel;
    this.h2 = h2;
  }

  /**
   * Connects to {@code to} over TLS 1.3 (ALPN h2) presenting {@code key} and {@code chain}, trusting
   * any server, and returns once the handshake is done.
   */
  public static RawHttp2Connection open(EventLoopGroup group, Class<? extends Channel> channelClass,
      PrivateKey key, List<X509Certificate> chain, InetSocketAddress to) throws Exception {
    SslContext ssl = SslContextBuilder.forClient()
        .keyManager(key, chain)
        .trustManager(InsecureTrustManagerFactory.INSTANCE)
        .protocols("TLSv1.3")
        .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
            ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
            ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, "h2"))
        .build();
    CompletableFuture<RawHttp2Connection> ready = new CompletableFuture<>();
    new Bootstrap().group(group).channel(channelClass)
        .handler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            ch.pipeline().addLast(ssl.newHandler(ch.alloc()));
            RawHttp2Connection[] self = new RawHttp2Connection[1];
            Http2ConnectionHandler h2 = new Http2ConnectionHandlerBuilder().server(false)
                .frameListener(new Http2FrameAdapter() {
                  @Override
                  public void onGoAwayRead(ChannelHandlerContext ctx, int last, long code, ByteBuf debug) {
                    Http2Error e = Http2Error.valueOf(code);
                    self[0].goAway.complete((e == null ? "code " + code : e.name()) + " "
                        + debug.toString(StandardCharsets.UTF_8));
                  }

                  @Override
                  public void onHeadersRead(ChannelHandlerContext ctx, int id, Http2Headers headers, int padding,
                      boolean end) {
                    self[0].statuses.put(id, String.valueOf(headers.status()));
                  }

                  @Override
                  public void onHeadersRead(ChannelHandlerContext ctx, int id, Http2Headers headers, int dep,
                      short weight, boolean exclusive, int padding, boolean end) {
                    onHeadersRead(ctx, id, headers, padding, end);
                  }
                }).build();
            self[0] = new RawHttp2Connection(ch, h2);
            ch.pipeline().addLast(h2);
            ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
              @Override
              public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                if (evt instanceof SslHandshakeCompletionEvent e) {
                  if (e.isSuccess()) {
                    ready.complete(self[0]);
                  } else {
                    ready.completeExceptionally(e.cause());
                  }
                }
                ctx.fireUserEventTriggered(evt);
              }

              @Override
              public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                ctx.close(); // writes failing after the server hung up: expected of an attacker
              }
            });
          }
        })
        .connect(to).addListener(f -> {
          if (!f.isSuccess()) {
            ready.completeExceptionally(f.cause());
          }
        });
    return ready.get(10, TimeUnit.SECONDS);
  }

  /**
   * Writes {@code count} CONNECTs to {@code authority}, each followed by RST_STREAM(CANCEL) when
   * {@code reset}, in one flush. Returns how many were written (fewer once the connection closed).
   */
  public int connects(String authority, int count, boolean reset) throws Exception {
    return channel.eventLoop().submit(() -> {
      ChannelHandlerContext ctx = channel.pipeline().context(h2);
      int written = 0;
      for (int i = 0; i < count && channel.isActive(); i++) {
        int id = h2.connection().local().incrementAndGetNextStreamId();
        h2.encoder().writeHeaders(ctx, id, new DefaultHttp2Headers().method("CONNECT").authority(authority), 0,
            false, ctx.voidPromise());
        if (reset) {
          h2.encoder().writeRstStream(ctx, id, Http2Error.CANCEL.code(), ctx.voidPromise());
        }
        written++;
      }
      ctx.flush();
      return written;
    }).get(10, TimeUnit.SECONDS);
  }

  @Override
  public void close() {
    channel.close().syncUninterruptibly();
  }
}
