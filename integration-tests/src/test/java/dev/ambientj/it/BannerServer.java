package dev.ambientj.it;

import dev.ambientj.hbone.transport.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;

/** A server that speaks first: writes a banner on accept and closes at once. */
final class BannerServer implements AutoCloseable {
  private final Channel channel;

  private BannerServer(Channel channel) {
    this.channel = channel;
  }

  static BannerServer start(EventLoopGroup group, Transport transport, InetSocketAddress address,
      String banner) throws InterruptedException {
    Channel ch = new ServerBootstrap()
        .group(group)
        .channel(transport.serverChannelClass())
        .childHandler(new ChannelInitializer<>() {
          @Override
          protected void initChannel(Channel c) {
            c.pipeline().addLast(new ChannelInboundHandlerAdapter() {
              @Override
              public void channelActive(ChannelHandlerContext ctx) {
                ctx.writeAndFlush(ByteBufUtil.writeUtf8(ctx.alloc(), banner))
                    .addListener(ChannelFutureListener.CLOSE);
              }
            });
          }
        })
        .bind(address).sync().channel();
    return new BannerServer(ch);
  }

  @Override
  public void close() {
    channel.close().syncUninterruptibly();
  }
}
