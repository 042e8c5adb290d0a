package dev.ambientj.launcher.demo;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.NetUtil;
import java.net.InetSocketAddress;
import java.util.Optional;
import java.util.function.Function;

/**
 * A tiny HTTP test app for the demo and the integration tests: every request gets one JSON line
 * naming the workload, its version, the peer address it saw and — asked from the local ztunnel —
 * the SPIFFE identity that peer proved over mTLS ({@code "none"} for plaintext).
 */
public final class EchoBackend implements AutoCloseable {
  private final Channel channel;

  private EchoBackend(Channel channel) {
    this.channel = channel;
  }

  /**
   * Serves on {@code address}; {@code peerIdentity} maps the client address the app sees to the
   * identity ztunnel verified for that connection.
   */
  public static EchoBackend start(EventLoopGroup group, Class<? extends ServerChannel> channelClass,
      InetSocketAddress address, String workload, String version,
      Function<InetSocketAddress, Optional<String>> peerIdentity) throws InterruptedException {
    Channel ch = new ServerBootstrap()
        .group(group)
        .channel(channelClass)
        .childHandler(new ChannelInitializer<>() {
          @Override
          protected void initChannel(Channel c) {
            c.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(1 << 20),
                new Handler(workload, version, peerIdentity));
          }
        })
        .bind(address).sync().channel();
    return new EchoBackend(ch);
  }

  public InetSocketAddress address() {
    return (InetSocketAddress) channel.localAddress();
  }

  @Override
  public void close() {
    channel.close().syncUninterruptibly();
  }

  /** Buffers: the request is released by the superclass; the response owns its body. */
  private static final class Handler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private final String workload;
    private final String version;
    private final Function<InetSocketAddress, Optional<String>> peerIdentity;

    Handler(String workload, String version,
        Function<InetSocketAddress, Optional<String>> peerIdentity) {
      this.workload = workload;
      this.version = version;
      this.peerIdentity = peerIdentity;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
      InetSocketAddress peer = (InetSocketAddress) ctx.channel().remoteAddress();
      String identity = peerIdentity.apply(peer).orElse("none");
      String body = "{\"workload\":\"" + workload + "\",\"version\":\"" + version
          + "\",\"peer\":\"" + identity + "\",\"peer_addr\":\"" + NetUtil.toSocketAddressString(peer)
          + "\",\"path\":\"" + request.uri().replace("\"", "%22") + "\"}\n";
      ByteBuf content = ByteBufUtil.writeUtf8(ctx.alloc(), body);
      FullHttpResponse response =
          new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK, content);
      response.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json");
      HttpUtil.setContentLength(response, content.readableBytes());
      boolean keepAlive = HttpUtil.isKeepAlive(request);
      HttpUtil.setKeepAlive(response, keepAlive);
      var write = ctx.writeAndFlush(response);
      if (!keepAlive) {
        write.addListener(ChannelFutureListener.CLOSE);
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }
}
