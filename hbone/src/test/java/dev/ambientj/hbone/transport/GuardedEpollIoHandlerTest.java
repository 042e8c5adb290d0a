package dev.ambientj.hbone.transport;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.ReferenceCountUtil;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * A server that answers after its client's half-close, with more than a socket buffer holds, on
 * epoll: the write needs EPOLLOUT after Netty emptied (and removed) the descriptor's interest set.
 * Without the guarded handler Netty 4.2.18 fails that write ({@code epoll_ctl} ENOENT) and
 * shuts the output down, so the client gets a few MiB and then EOF.
 */
class GuardedEpollIoHandlerTest {
  private static final int ANSWER_BYTES = 32 << 20;

  /** What became of the server's answer: null when written whole. */
  private final CompletableFuture<Throwable> writeOutcome = new CompletableFuture<>();

  @Test
  void answerAfterTheClientsHalfCloseArrivesWhole() throws Exception {
    Assumptions.assumeTrue(Epoll.isAvailable(), "epoll is not available here");
    Transport epoll = Transport.select(Transport.Kind.EPOLL);
    EventLoopGroup group = epoll.newEventLoopGroup(1, "epoll-rereg-test");
    try {
      Channel server = new ServerBootstrap().group(group).channel(epoll.serverChannelClass())
          .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
          .childHandler(new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
              ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                @Override
                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                  ReferenceCountUtil.release(msg);
                }

                @Override
                public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                  if (evt instanceof ChannelInputShutdownEvent) {
                    // let the loop see EOF again and empty the interest set before answering
                    ctx.executor().schedule(() -> answer(ctx), 200, TimeUnit.MILLISECONDS);
                  }
                }
              });
            }
          })
          .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
      try (Socket client = new Socket()) {
        client.setReceiveBufferSize(64 * 1024);
        client.connect(server.localAddress(), 5_000);
        client.setSoTimeout(20_000);
        client.getOutputStream().write("request".getBytes());
        client.shutdownOutput();
        Thread.sleep(1_000); // the answer fills the buffers while nobody reads
        long received = 0;
        byte[] buf = new byte[64 * 1024];
        InputStream in = client.getInputStream();
        for (int n; (n = in.read(buf)) >= 0; ) {
          received += n;
        }
        assertThat(writeOutcome.get(10, TimeUnit.SECONDS)).as("the server's write").isNull();
        assertThat(received).isEqualTo(ANSWER_BYTES);
      } finally {
        server.close().sync();
      }
    } finally {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
  }

  private void answer(ChannelHandlerContext ctx) {
    ByteBuf answer = Unpooled.wrappedBuffer(new byte[ANSWER_BYTES]);
    ctx.writeAndFlush(answer).addListener(f -> {
      writeOutcome.complete(f.cause());
      ctx.close();
    });
  }

}
