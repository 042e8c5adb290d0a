package dev.ambientj.it;

import dev.ambientj.hbone.transport.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A server that sends {@link #pattern} bytes to every client as fast as the client takes them:
 * {@code size} bytes then FIN, or without end ({@code size < 0}). Counts accepted connections,
 * bytes written and connections that ended in an error (a reset).
 */
final class BulkServer implements AutoCloseable {
  final AtomicInteger accepted = new AtomicInteger();
  final AtomicLong written = new AtomicLong();
  final AtomicInteger failed = new AtomicInteger();
  private final Channel channel;

  private BulkServer(EventLoopGroup group, Transport transport, InetSocketAddress address, long size)
      throws InterruptedException {
    channel = new ServerBootstrap()
        .group(group)
        .channel(transport.serverChannelClass())
        .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
        .childHandler(new ChannelInitializer<>() {
          @Override
          protected void initChannel(Channel c) {
            accepted.incrementAndGet();
            c.pipeline().addLast(new Sender(size));
          }
        })
        .bind(address).sync().channel();
  }

  static BulkServer start(EventLoopGroup group, Transport transport, InetSocketAddress address, long size)
      throws InterruptedException {
    return new BulkServer(group, transport, address, size);
  }

  /** The pattern from every offset 0..250 on, for at least one 16 KiB chunk. */
  private static final byte[] PATTERN = new byte[251 + (16 << 10)];

  static {
    for (int i = 0; i < PATTERN.length; i++) {
      PATTERN[i] = pattern(i);
    }
  }

  /** The byte at {@code offset} of every stream. */
  static byte pattern(long offset) {
    return (byte) (offset % 251);
  }

  @Override
  public void close() {
    channel.close().syncUninterruptibly();
  }

  private final class Sender extends ChannelInboundHandlerAdapter {
    private final long size;
    private long sent;

    Sender(long size) {
      this.size = size;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
      fill(ctx);
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
      fill(ctx);
    }

    /** Writes while the socket takes more; ends with FIN after {@code size} bytes. */
    private void fill(ChannelHandlerContext ctx) {
      Channel ch = ctx.channel();
      while (ch.isActive() && ch.isWritable() && (size < 0 || sent < size)) {
        int n = (int) (size < 0 ? 16 << 10 : Math.min(16 << 10, size - sent));
        ByteBuf buf = ctx.alloc().buffer(n).writeBytes(PATTERN, (int) (sent % 251), n);
        sent += n;
        ctx.writeAndFlush(buf).addListener(f -> {
          if (f.isSuccess()) {
            written.addAndGet(n);
          }
        });
        if (size >= 0 && sent == size) {
          ctx.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER)
              .addListener(f -> ((io.netty.channel.socket.DuplexChannel) ch).shutdownOutput());
        }
      }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      ReferenceCountUtil.release(msg);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
      if (evt instanceof io.netty.channel.socket.ChannelInputShutdownEvent) {
        ctx.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      failed.incrementAndGet();
      ctx.close();
    }
  }
}
