package dev.ambientj.hbone;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;

/** A bare HTTP/2-over-TLS client for sending requests our HboneClient would never send. */
final class RawH2Client {

  private RawH2Client() {}

  /** Sends {@code headers} on one stream; completes with the response headers, or fails if the connection dies first. */
  static CompletableFuture<Http2Headers> request(TestMesh mesh, SslContext ssl, InetSocketAddress to, Http2Headers headers) {
    CompletableFuture<Http2Headers> result = new CompletableFuture<>();
    new Bootstrap().group(mesh.group).channel(mesh.transport.socketChannelClass())
        .handler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            ch.pipeline().addLast(ssl.newHandler(ch.alloc()));
            ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
              @Override
              public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                if (evt instanceof SslHandshakeCompletionEvent e) {
                  if (!e.isSuccess()) {
                    result.completeExceptionally(e.cause());
                    ctx.close();
                    return;
                  }
                  ctx.pipeline().addLast(Http2FrameCodecBuilder.forClient().build());
                  ctx.pipeline().addLast(new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
                  new Http2StreamChannelBootstrap(ctx.channel()).handler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext sctx, Object msg) {
                      if (msg instanceof Http2HeadersFrame h) {
                        result.complete(h.headers());
                      }
                      ReferenceCountUtil.release(msg);
                    }
                  }).open().addListener(f -> {
                    if (f.isSuccess()) {
                      ((Channel) f.getNow()).writeAndFlush(new DefaultHttp2HeadersFrame(headers, false));
                    } else {
                      result.completeExceptionally(f.cause());
                    }
                  });
                  // stays in the pipeline to catch late errors (e.g. the server rejecting our certificate)
                }
              }

              @Override
              public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                result.completeExceptionally(cause);
                ctx.close();
              }
            });
            ch.closeFuture().addListener(f -> result.completeExceptionally(new IOException("connection closed without a response")));
          }
        })
        .connect(to).addListener(f -> {
          if (!f.isSuccess()) {
            result.completeExceptionally(f.cause());
          }
        });
    return result;
  }
}
