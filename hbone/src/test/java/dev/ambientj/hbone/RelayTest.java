package dev.ambientj.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.hbone.TestMesh.Sink;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The relay between two TCP channels (a tiny proxy in front of the echo server). */
@Timeout(30)
class RelayTest {

  @Test
  void tcpToTcpWithHalfCloseAndCounters() throws Exception {
    try (TestMesh mesh = new TestMesh().startEcho()) {
      CompletableFuture<long[]> counts = new CompletableFuture<>();
      Channel proxy = new ServerBootstrap().group(mesh.group).channel(mesh.transport.serverChannelClass())
          .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
          .childOption(ChannelOption.AUTO_READ, false)
          .childHandler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel down) {
              Relay.holdInbound(down); // the client may send data and FIN before the upstream is connected
              new Bootstrap().group(down.eventLoop()).channel(mesh.transport.socketChannelClass())
                  .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                  .option(ChannelOption.AUTO_READ, false)
                  .handler(new ChannelInboundHandlerAdapter())
                  .connect(mesh.echoAddress)
                  .addListener((ChannelFuture f) -> Relay.start(down, f.channel(),
                      (ab, ba, cause) -> {
                        if (cause != null) {
                          cause.printStackTrace(System.out);
                        }
                        counts.complete(new long[] {ab, ba, cause == null ? 0 : 1});
                      }));
            }
          })
          .bind("127.0.0.1", 0).sync().channel();
      Channel client = new Bootstrap().group(mesh.group).channel(mesh.transport.socketChannelClass())
          .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
          .option(ChannelOption.AUTO_READ, false)
          .handler(new ChannelInboundHandlerAdapter())
          .connect((InetSocketAddress) proxy.localAddress()).sync().channel();
      Sink sink = Sink.attach(client, true);
      client.writeAndFlush(Unpooled.copiedBuffer("through a relay", StandardCharsets.UTF_8));
      TunnelChannels.shutdownOutput(client).sync();
      sink.inputEnded.get(10, TimeUnit.SECONDS);
      assertThat(sink.text()).as(() -> "relay counts " + java.util.Arrays.toString(counts.getNow(null)) + " " + sink.count)
          .isEqualTo("through a relay");
      assertThat(counts.get(10, TimeUnit.SECONDS)).containsExactly(15, 15, 0);
      client.close().sync();
      proxy.close().sync();
    }
  }
}
