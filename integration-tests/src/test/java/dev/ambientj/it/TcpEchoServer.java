package dev.ambientj.it;

import dev.ambientj.hbone.transport.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import java.net.InetSocketAddress;

/**
 * Echoes every byte back; when the client half-closes, finishes writing and closes (so a client
 * can send, shut its output, and read exactly what it sent, then see EOF).
 */
final class TcpEchoServer implements AutoCloseable {
  private final Channel channel;

  private TcpEchoServer(Channel channel) {
    this.channel = channel;
  }

  static TcpEchoServer start(EventLoopGroup group, Transport transport, InetSocketAddress address)
      throws InterruptedException {
    Channel ch = new ServerBootstrap()
        .group(group)
        .channel(transport.serverChannelClass())
        .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
        .childHandler(new ChannelInitializer<>() {
          @Override
          protected void initChannel(Channel c) {
            c.pipeline().addLast(new Echo());
          }
        })
        .bind(address).sync().channel();
    return new TcpEchoServer(ch);
  }

  @Override
  public void close() {
    channel.close().syncUninterruptibly();
  }

  /** Buffers: each read buffer is handed to the write, which releases it. */
  private static final class Echo extends ChannelInboundHandlerAdapter {
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      ctx.write(msg);
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
      ctx.flush();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
      if (evt instanceof ChannelInputShutdownEvent) {
        // Everything read has been queued: flush it, then FIN (the close) ends the reply.
        ctx.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER)
            .addListener(io.netty.channel.ChannelFutureListener.CLOSE);
      }
      ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }
}
