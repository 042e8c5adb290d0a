package dev.ambientj.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ambientj.hbone.transport.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Regression: a client that sends a lot and half-closes while the relay has paused reading from it
 * (the upstream is not reading). On epoll, switching auto-read back on for a socket whose input is
 * already shut down fails in {@code epoll_ctl} and closes the channel — the relay must instead
 * treat that side as finished reading and still deliver every byte, then the FIN, then the reply.
 */
@Timeout(60)
class RelayHalfCloseBackpressureTest {

  private static final int SIZE = 24 * 1024 * 1024;
  private static final byte[] REPLY = "got it".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  @Test
  void epollHalfCloseWhileReadingIsPausedDeliversEverything() throws Exception {
    run(false);
  }

  /** The ztunnel shape: the two sides on different event loops (a pooled tunnel and a downstream socket). */
  @Test
  void epollHalfCloseWhileReadingIsPausedAcrossEventLoops() throws Exception {
    run(true);
  }

  private void run(boolean acrossLoops) throws Exception {
    assumeTrue(Epoll.isAvailable(), () -> "epoll unavailable: " + Epoll.unavailabilityCause());
    try (TestMesh mesh = new TestMesh(Transport.Kind.EPOLL)) {
      // Upstream: reads nothing until released, then counts everything, replies and half-closes.
      CountDownLatch upstreamAccepted = new CountDownLatch(1);
      CompletableFuture<Channel> upstreamChannel = new CompletableFuture<>();
      AtomicLong upstreamBytes = new AtomicLong();
      CompletableFuture<Void> upstreamInputEnded = new CompletableFuture<>();
      Channel upstreamListener = new ServerBootstrap().group(mesh.group).channel(mesh.transport.serverChannelClass())
          .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
          .childOption(ChannelOption.AUTO_READ, false)
          .childOption(ChannelOption.SO_RCVBUF, 64 * 1024)
          .childHandler(new ChannelInboundHandlerAdapter() {
            @Override
            public void channelActive(ChannelHandlerContext ctx) {
              upstreamChannel.complete(ctx.channel());
              upstreamAccepted.countDown();
              ctx.fireChannelActive();
            }

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
              upstreamBytes.addAndGet(((ByteBuf) msg).readableBytes());
              ((ByteBuf) msg).release();
            }

            @Override
            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
              if (evt instanceof ChannelInputShutdownEvent) {
                upstreamInputEnded.complete(null);
                ctx.writeAndFlush(Unpooled.wrappedBuffer(REPLY))
                    .addListener(f -> TunnelChannels.shutdownOutput(ctx.channel()));
              }
            }
          })
          .bind("127.0.0.1", 0).sync().channel();

      CompletableFuture<Object[]> relayDone = new CompletableFuture<>();
      Channel proxy = new ServerBootstrap().group(mesh.group).channel(mesh.transport.serverChannelClass())
          .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
          .childOption(ChannelOption.AUTO_READ, false)
          .childHandler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel down) {
              Relay.holdInbound(down);
              new Bootstrap().group(acrossLoops ? otherLoop(mesh, down) : down.eventLoop()).channel(mesh.transport.socketChannelClass())
                  .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                  .option(ChannelOption.AUTO_READ, false)
                  .option(ChannelOption.SO_SNDBUF, 64 * 1024)
                  .option(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(32 * 1024, 64 * 1024))
                  .handler(new ChannelInboundHandlerAdapter())
                  .connect(upstreamListener.localAddress())
                  .addListener((ChannelFuture f) -> Relay.start(down, f.channel(),
                      (ab, ba, cause) -> relayDone.complete(new Object[] {ab, ba, cause})));
            }
          })
          .bind("127.0.0.1", 0).sync().channel();

      Channel client = new Bootstrap().group(mesh.group).channel(mesh.transport.socketChannelClass())
          .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
          .option(ChannelOption.AUTO_READ, false)
          .handler(new ChannelInboundHandlerAdapter())
          .connect((InetSocketAddress) proxy.localAddress()).sync().channel();
      TestMesh.Sink sink = TestMesh.Sink.attach(client, true);
      assertThat(upstreamAccepted.await(10, TimeUnit.SECONDS)).isTrue();

      // Everything the client sends, then FIN. The upstream reads nothing, so the relay pauses
      // reading from the client long before the end; the FIN reaches the paused socket.
      byte[] chunk = new byte[64 * 1024];
      for (int sent = 0; sent < SIZE; sent += chunk.length) {
        client.write(Unpooled.wrappedBuffer(chunk));
      }
      client.flush();
      ChannelFuture fin = TunnelChannels.shutdownOutput(client);
      // Let the relay fill what it can and the FIN arrive while it is paused.
      Thread.sleep(300);
      assertThat(upstreamBytes.get()).isZero();

      Channel upstream = upstreamChannel.get(10, TimeUnit.SECONDS);
      upstream.config().setAutoRead(true);

      Object[] result = relayDone.get(30, TimeUnit.SECONDS);
      assertThat((Throwable) result[2]).as("relay error").isNull();
      assertThat(upstreamInputEnded).isDone();
      assertThat(fin.get(10, TimeUnit.SECONDS)).isNull();
      sink.inputEnded.get(10, TimeUnit.SECONDS);
      assertThat(upstreamBytes.get()).isEqualTo(SIZE);
      assertThat(sink.bytes.toByteArray()).isEqualTo(REPLY);
      assertThat(result[0]).isEqualTo((long) SIZE);
      assertThat(result[1]).isEqualTo((long) REPLY.length);
      client.close().sync();
      proxy.close().sync();
      upstreamListener.close().sync();
    }
  }

  private static io.netty.channel.EventLoop otherLoop(TestMesh mesh, Channel ch) {
    for (io.netty.util.concurrent.EventExecutor e : mesh.group) {
      if (e != ch.eventLoop()) {
        return (io.netty.channel.EventLoop) e;
      }
    }
    throw new IllegalStateException("the test group needs two event loops");
  }
}
