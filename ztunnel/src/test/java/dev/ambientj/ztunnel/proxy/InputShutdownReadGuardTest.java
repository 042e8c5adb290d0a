package dev.ambientj.ztunnel.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.hbone.transport.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * A relay pauses reading (auto-read off), the peer sends its last bytes and FIN, the relay resumes:
 * the channel must stay usable for writing back. Without the guard, Netty 4.2.18's epoll transport
 * fails the resume with {@code epoll_ctl ENOENT} and the channel is closed.
 */
class InputShutdownReadGuardTest {

  @Test
  void resumingReadsAfterThePeersFinKeepsTheChannelOpen() throws Exception {
    Transport transport = Transport.select(Transport.Kind.AUTO);
    EventLoopGroup group = transport.newEventLoopGroup(1, "guard-test");
    CompletableFuture<Channel> accepted = new CompletableFuture<>();
    CountDownLatch inputEnded = new CountDownLatch(1);
    AtomicReference<Throwable> failure = new AtomicReference<>();
    try {
      Channel server = new ServerBootstrap().group(group)
          .channel(transport.serverChannelClass())
          .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
          .childOption(ChannelOption.AUTO_READ, false)
          .childHandler(new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
              InputShutdownReadGuard.install(ch);
              ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                @Override
                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                  ReferenceCountUtil.release(msg);
                }

                @Override
                public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                  if (evt instanceof ChannelInputShutdownEvent) {
                    inputEnded.countDown();
                  }
                }

                @Override
                public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                  failure.set(cause);
                }
              });
              accepted.complete(ch);
            }
          })
          .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
      InetSocketAddress address = (InetSocketAddress) server.localAddress();
      try (Socket client = new Socket(address.getAddress(), address.getPort())) {
        client.setSoTimeout(5000);
        client.getOutputStream().write("last words".getBytes(StandardCharsets.US_ASCII));
        client.shutdownOutput();
        Channel ch = accepted.get(5, TimeUnit.SECONDS);
        // The transport may or may not read the FIN while auto-read is off; either way, resume.
        inputEnded.await(500, TimeUnit.MILLISECONDS);
        ch.eventLoop().submit(() -> ch.config().setAutoRead(true)).sync();
        assertThat(inputEnded.await(5, TimeUnit.SECONDS)).isTrue();

        ByteBuf reply = ch.alloc().buffer().writeBytes("ok".getBytes(StandardCharsets.US_ASCII));
        ch.writeAndFlush(reply).sync();
        byte[] got = client.getInputStream().readNBytes(2);

        assertThat(new String(got, StandardCharsets.US_ASCII)).isEqualTo("ok");
        assertThat(failure.get()).isNull();
        assertThat(ch.isActive()).isTrue();
        ch.close().sync();
      } finally {
        server.close().sync();
      }
    } finally {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
  }
}
