package dev.ambientj.waypoint;

import dev.ambientj.hbone.HboneServer;
import dev.ambientj.hbone.HboneServerConfig;
import dev.ambientj.hbone.Relay;
import dev.ambientj.hbone.identity.IdentityProvider;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.waypoint.http.ProtocolSniffer;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A pod for waypoint end-to-end tests: a plain HTTP server (HTTP/1.1 and HTTP/2 prior knowledge)
 * on {@code ip:8080} and the HBONE terminator a ztunnel would be on {@code ip:15008} (CONNECT →
 * TCP to {@code ip:port} → relay).
 */
final class TestPod implements AutoCloseable {
  /** Answers one request; writes the response objects on {@code ctx} itself. */
  @FunctionalInterface
  interface Behaviour {
    void handle(TestPod pod, FullHttpRequest req, ChannelHandlerContext ctx);
  }

  final String name;
  final String ip;
  final AtomicInteger requests = new AtomicInteger();
  final AtomicInteger connects = new AtomicInteger();
  volatile Behaviour behaviour;
  private final Channel http;
  private final Channel hbone;

  TestPod(String name, String ip, SpiffeId identity, IdentityProvider certs, EventLoopGroup group, Behaviour behaviour)
      throws InterruptedException {
    this.name = name;
    this.ip = ip;
    this.behaviour = behaviour;
    TestPod self = this;
    http = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            ch.pipeline().addLast(new ProtocolSniffer(new ProtocolSniffer.Installer() {
              @Override
              public void installHttp1(ChannelPipeline p) {
                p.addLast(new HttpServerCodec(), new HttpObjectAggregator(1 << 20), new AppHandler(self));
              }

              @Override
              public void installHttp2(ChannelPipeline p) {
                p.addLast(Http2FrameCodecBuilder.forServer().build());
                p.addLast(new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
                  @Override
                  protected void initChannel(Http2StreamChannel sc) {
                    sc.pipeline().addLast(new Http2StreamFrameToHttpObjectCodec(true), new HttpObjectAggregator(1 << 20),
                        new AppHandler(self));
                  }
                }));
              }
            }));
          }
        }).bind(new InetSocketAddress(ip, 8080)).sync().channel();
    HboneServer server = HboneServer.create(HboneServerConfig.defaults(), certs, identity, (req, responder) -> {
      connects.incrementAndGet();
      new Bootstrap().group(responder.eventLoop()).channel(NioSocketChannel.class)
          .option(io.netty.channel.ChannelOption.AUTO_READ, false)
          .handler(new io.netty.channel.ChannelInboundHandlerAdapter())
          .connect(new InetSocketAddress(ip, req.target().port())).addListener(f -> {
            if (!f.isSuccess()) {
              responder.refuse(503, "connect failed");
              return;
            }
            Channel up = ((io.netty.channel.ChannelFuture) f).channel();
            Channel down = responder.accept();
            Relay.start(down, up, (a, b, c) -> {});
          });
    });
    hbone = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
        .childHandler(server.childInitializer()).bind(new InetSocketAddress(ip, 15008)).sync().channel();
  }

  static void respond(ChannelHandlerContext ctx, FullHttpRequest req, int status, String body) {
    FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(status),
        Unpooled.copiedBuffer(body, StandardCharsets.UTF_8));
    HttpUtil.setContentLength(r, r.content().readableBytes());
    r.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain");
    boolean keepAlive = HttpUtil.isKeepAlive(req);
    if (!keepAlive) {
      r.headers().set(HttpHeaderNames.CONNECTION, "close");
    }
    var f = ctx.writeAndFlush(r);
    if (!keepAlive) {
      f.addListener(io.netty.channel.ChannelFutureListener.CLOSE);
    }
  }

  @Override
  public void close() {
    http.close().awaitUninterruptibly();
    hbone.close().awaitUninterruptibly();
  }

  private static final class AppHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private final TestPod pod;

    AppHandler(TestPod pod) {
      this.pod = pod;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
      pod.requests.incrementAndGet();
      pod.behaviour.handle(pod, req, ctx);
    }
  }
}
