package dev.ambientj.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.hbone.TestMesh.Sink;
import dev.ambientj.hbone.transport.Transport;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Pool sizing, idle release, drain, and the same tunnel over every transport and TLS provider. */
@Timeout(60)
class HbonePoolAndLifecycleTest {

  static void eventually(BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("condition not met within 10 s");
      }
      Thread.sleep(10);
    }
  }

  static String echo(TestMesh mesh, String text) throws Exception {
    Channel tunnel = mesh.connectEcho();
    Sink sink = Sink.attach(tunnel, true);
    tunnel.writeAndFlush(Unpooled.copiedBuffer(text, StandardCharsets.UTF_8));
    TunnelChannels.shutdownOutput(tunnel);
    sink.closed.get(10, TimeUnit.SECONDS);
    return sink.text();
  }

  @ParameterizedTest
  @EnumSource(value = Transport.Kind.class, names = {"EPOLL", "IO_URING", "NIO"})
  void tunnelWorksOnEveryTransport(Transport.Kind kind) throws Exception {
    try (TestMesh mesh = new TestMesh(kind).startEcho().startServer(HboneServerConfig.defaults())
        .startClient(HboneClientConfig.defaults())) {
      assertThat(echo(mesh, "over " + kind)).isEqualTo("over " + kind);
    }
  }

  @Test
  void jdkTlsProviderInteroperatesWithBoringSsl() throws Exception {
    try (TestMesh mesh = new TestMesh().startEcho()
        .startServer(HboneServerConfig.defaults().withTlsProvider(TlsProvider.JDK))
        .startClient(HboneClientConfig.defaults())) {
      assertThat(echo(mesh, "jdk server")).isEqualTo("jdk server");
    }
    try (TestMesh mesh = new TestMesh().startEcho().startServer(HboneServerConfig.defaults())
        .startClient(HboneClientConfig.defaults().withTlsProvider(TlsProvider.JDK))) {
      assertThat(echo(mesh, "jdk client")).isEqualTo("jdk client");
    }
  }

  @Test
  void tls12OnlyWhenConfigured() throws Exception {
    try (TestMesh mesh = new TestMesh().startEcho().startServer(HboneServerConfig.defaults().withTls12Enabled(true))
        .startClient(HboneClientConfig.defaults().withTls12Enabled(true))) {
      assertThat(echo(mesh, "tls")).isEqualTo("tls");
    }
  }

  @Test
  void serverStreamLimitOpensMoreConnections() throws Exception {
    try (TestMesh mesh = new TestMesh().startEcho()
        .startServer(HboneServerConfig.defaults().withMaxConcurrentStreams(3))
        .startClient(HboneClientConfig.defaults())) {
      List<Channel> open = new ArrayList<>();
      for (int i = 0; i < 7; i++) {
        open.add(mesh.connectEcho());
      }
      assertThat(mesh.client.connectionCount()).isEqualTo(3); // 3 + 3 + 1
      assertThat(mesh.server.activeStreams()).isEqualTo(7);
      open.forEach(Channel::close);
      eventually(() -> mesh.server.activeStreams() == 0);
    }
  }

  @Test
  void callersNamingTheirEventLoopGetTunnelsOnThatLoop() throws Exception {
    try (TestMesh mesh = TestMesh.standard()) {
      io.netty.channel.EventLoop first = mesh.group.next();
      io.netty.channel.EventLoop second = mesh.group.next();
      assertThat(second).isNotSameAs(first);
      List<Channel> open = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        for (io.netty.channel.EventLoop loop : List.of(first, second)) {
          Channel tunnel = mesh.client.connect(mesh.echoTarget(),
              dev.ambientj.hbone.transport.SocketOrigin.HOST, loop).get(10, TimeUnit.SECONDS);
          assertThat(tunnel.eventLoop()).isSameAs(loop);
          open.add(tunnel);
        }
      }
      // One connection per loop, each carrying that loop's three tunnels; bytes go through both.
      assertThat(mesh.client.connectionCount()).isEqualTo(2);
      assertThat(mesh.server.activeConnections()).isEqualTo(2);
      assertThat(mesh.server.activeStreams()).isEqualTo(6);
      for (Channel tunnel : open.subList(0, 2)) {
        Sink sink = Sink.attach(tunnel, true);
        tunnel.writeAndFlush(Unpooled.copiedBuffer("on " + tunnel.eventLoop(), StandardCharsets.UTF_8));
        TunnelChannels.shutdownOutput(tunnel);
        sink.closed.get(10, TimeUnit.SECONDS);
        assertThat(sink.text()).isEqualTo("on " + tunnel.eventLoop());
      }
      open.forEach(Channel::close);
      eventually(() -> mesh.server.activeStreams() == 0);
    }
  }

  @Test
  void concurrentCallersShareAConnectionBeingEstablished() throws Exception {
    try (TestMesh mesh = TestMesh.standard()) {
      List<CompletableFuture<Channel>> fs = new ArrayList<>();
      for (int i = 0; i < 50; i++) {
        fs.add(mesh.client.connect(mesh.echoTarget()));
      }
      for (CompletableFuture<Channel> f : fs) {
        f.get(10, TimeUnit.SECONDS).close();
      }
      assertThat(mesh.server.activeConnections()).isEqualTo(1);
    }
  }

  @Test
  void idleConnectionsAreReleased() throws Exception {
    try (TestMesh mesh = new TestMesh().startEcho().startServer(HboneServerConfig.defaults())
        .startClient(HboneClientConfig.defaults().withIdleTimeout(Duration.ofMillis(200)))) {
      assertThat(echo(mesh, "a")).isEqualTo("a");
      eventually(() -> mesh.client.connectionCount() == 0);
      eventually(() -> mesh.server.activeConnections() == 0);
      assertThat(echo(mesh, "b")).isEqualTo("b"); // a fresh connection
    }
  }

  @Test
  void drainSendsGoawayLetsOpenStreamsFinishAndNewStreamsUseANewConnection() throws Exception {
    try (TestMesh mesh = new TestMesh().startEcho()
        .startServer(HboneServerConfig.defaults().withDrainTimeout(Duration.ofSeconds(10)))
        .startClient(HboneClientConfig.defaults())) {
      Channel tunnel = mesh.connectEcho();
      Sink sink = Sink.attach(tunnel, true);
      mesh.server.drain();
      // the open stream still works after GOAWAY
      Thread.sleep(100);
      tunnel.writeAndFlush(Unpooled.copiedBuffer("still here", StandardCharsets.UTF_8));
      TunnelChannels.shutdownOutput(tunnel);
      sink.closed.get(10, TimeUnit.SECONDS);
      assertThat(sink.text()).isEqualTo("still here");
      // once its last stream is done the drained connection closes
      eventually(() -> mesh.server.activeConnections() == 0);
      eventually(() -> mesh.client.connectionCount() == 0);
    }
  }

  @Test
  void keepalivePingsKeepAnAnsweringPeerAndDropASilentOne() throws Exception {
    try (TestMesh mesh = new TestMesh().startEcho()
        .startServer(HboneServerConfig.defaults().withKeepalive(Duration.ofMillis(100), Duration.ofMillis(300)))
        .startClient(HboneClientConfig.defaults())) {
      Channel tunnel = mesh.connectEcho();
      Sink sink = Sink.attach(tunnel, true);
      Thread.sleep(1000); // many ping intervals with no data: our client answers the PINGs
      assertThat(tunnel.isActive()).isTrue();
      tunnel.writeAndFlush(Unpooled.copiedBuffer("alive", StandardCharsets.UTF_8));
      TunnelChannels.shutdownOutput(tunnel);
      sink.closed.get(10, TimeUnit.SECONDS);
      assertThat(sink.text()).isEqualTo("alive");

      // a peer that completes TLS and then says nothing, not even a PING ack, is closed
      var cert = mesh.certs.fetchCertificate(TestMesh.CLIENT_ID).join();
      var ssl = io.netty.handler.ssl.SslContextBuilder.forClient().keyManager(cert.privateKey(), cert.chain())
          .trustManager(mesh.ca.trustBundle().roots()).endpointIdentificationAlgorithm(null).protocols("TLSv1.3").build();
      CompletableFuture<Void> handshaken = new CompletableFuture<>();
      Channel silent = new io.netty.bootstrap.Bootstrap().group(mesh.group).channel(mesh.transport.socketChannelClass())
          .handler(new io.netty.channel.ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
              ch.pipeline().addLast(ssl.newHandler(ch.alloc()), new io.netty.channel.ChannelInboundHandlerAdapter() {
                @Override
                public void channelRead(io.netty.channel.ChannelHandlerContext ctx, Object msg) {
                  io.netty.util.ReferenceCountUtil.release(msg);
                }

                @Override
                public void userEventTriggered(io.netty.channel.ChannelHandlerContext ctx, Object evt) {
                  if (evt instanceof io.netty.handler.ssl.SslHandshakeCompletionEvent e && e.isSuccess()) {
                    handshaken.complete(null);
                  }
                }

                @Override
                public void exceptionCaught(io.netty.channel.ChannelHandlerContext ctx, Throwable cause) {
                  ctx.close();
                }
              });
            }
          })
          .connect(mesh.serverAddress).sync().channel();
      handshaken.get(5, TimeUnit.SECONDS);
      assertThat(silent.closeFuture().await(5, TimeUnit.SECONDS)).isTrue();
    }
  }

  @Test
  void closedClientFailsFast() throws Exception {
    try (TestMesh mesh = TestMesh.standard()) {
      mesh.client.close();
      assertThat(mesh.client.connect(mesh.echoTarget())).failsWithin(1, TimeUnit.SECONDS);
    }
  }
}
