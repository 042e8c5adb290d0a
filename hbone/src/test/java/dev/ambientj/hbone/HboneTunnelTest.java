package dev.ambientj.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.hbone.TestMesh.Sink;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Bytes through a real tunnel: client → HBONE server → TCP echo, and back. */
@Timeout(60)
class HboneTunnelTest {

  static TestMesh mesh;

  @BeforeAll
  static void start() throws Exception {
    mesh = TestMesh.standard();
  }

  @AfterAll
  static void stop() throws Exception {
    mesh.close();
  }

  @Test
  void smallRoundTripCarriesIdentityAndHeaders() throws Exception {
    ConnectTarget t = new ConnectTarget(TestMesh.CLIENT_ID, java.util.Set.of(TestMesh.SERVER_ID), mesh.serverAddress,
        "127.0.0.1:" + mesh.echoAddress.getPort(),
        Map.of("baggage", "k8s.namespace.name=default", "forwarded", "for=\"127.0.0.9:1234\"",
            "traceparent", "00-0123456789abcdef0123456789abcdef-0123456789abcdef-00"));
    Channel tunnel = mesh.client.connect(t).get(10, TimeUnit.SECONDS);
    assertThat(TunnelChannels.peerIdentity(tunnel)).contains(TestMesh.SERVER_ID);
    assertThat(TunnelChannels.isTunnel(tunnel)).isTrue();
    Sink sink = Sink.attach(tunnel, true);
    tunnel.writeAndFlush(Unpooled.copiedBuffer("hello hbone", StandardCharsets.UTF_8));
    TunnelChannels.shutdownOutput(tunnel);
    sink.inputEnded.get(10, TimeUnit.SECONDS);
    sink.closed.get(10, TimeUnit.SECONDS);
    assertThat(sink.text()).isEqualTo("hello hbone");
    ConnectRequest req = mesh.requests.stream().filter(r -> "k8s.namespace.name=default".equals(r.baggage()))
        .findFirst().orElseThrow();
    assertThat(req.peerIdentity()).isEqualTo(TestMesh.CLIENT_ID);
    assertThat(req.target()).isEqualTo(new HostAndPort("127.0.0.1", mesh.echoAddress.getPort()));
    assertThat(req.forwarded()).isEqualTo("for=\"127.0.0.9:1234\"");
    assertThat(req.traceparent()).startsWith("00-0123");
    assertThat(req.peerAddress().getAddress().isLoopbackAddress()).isTrue();
    HbonePoolAndLifecycleTest.eventually(() -> mesh.relayResults.stream()
        .anyMatch(r -> (long) r[0] == 11 && (long) r[1] == 11 && r[2] == null));
  }

  @Test
  void hundredMegabytesRoundTripWithChecksum() throws Exception {
    long total = 100L << 20;
    Channel tunnel = mesh.connectEcho();
    Sink sink = Sink.attach(tunnel, false);
    Pump pump = new Pump(total, 64 << 10, 42);
    tunnel.pipeline().addFirst(pump); // sees writability changes before the sink
    tunnel.eventLoop().execute(() -> pump.pump(tunnel));
    sink.inputEnded.get(45, TimeUnit.SECONDS);
    assertThat(sink.count).isEqualTo(total);
    assertThat(sink.crc.getValue()).isEqualTo(pump.crc.getValue());
    sink.closed.get(10, TimeUnit.SECONDS);
  }

  @Test
  void thousandConcurrentStreamsOverThePool() throws Exception {
    int n = 1000;
    List<CompletableFuture<String>> echoes = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      String msg = "stream-" + i + "-" + "x".repeat(i % 97);
      echoes.add(mesh.client.connect(mesh.echoTarget()).thenCompose(tunnel -> {
        Sink sink = Sink.attach(tunnel, true);
        tunnel.writeAndFlush(Unpooled.copiedBuffer(msg, StandardCharsets.UTF_8));
        TunnelChannels.shutdownOutput(tunnel);
        return sink.closed.thenApply(v -> sink.text());
      }));
    }
    for (int i = 0; i < n; i++) {
      assertThat(echoes.get(i).get(30, TimeUnit.SECONDS)).isEqualTo("stream-" + i + "-" + "x".repeat(i % 97));
    }
    // 100 streams per connection: 1,000 concurrent streams need about 10 connections, not 1,000.
    assertThat(mesh.client.connectionCount()).isBetween(1, 15);
  }

  @Test
  void clientHalfCloseStillReceives() throws Exception {
    // client ends its side first; the echo answers, then ends its side
    Channel tunnel = mesh.connectEcho();
    Sink sink = Sink.attach(tunnel, true);
    tunnel.writeAndFlush(Unpooled.copiedBuffer("ping", StandardCharsets.UTF_8));
    TunnelChannels.shutdownOutput(tunnel).sync();
    // once the echo has answered and ended too, the stream is closed and its codec gone
    assertThat(TunnelChannels.isOutputShutdown(tunnel) || !tunnel.isOpen()).isTrue();
    sink.inputEnded.get(10, TimeUnit.SECONDS);
    assertThat(sink.text()).isEqualTo("ping");
  }

  @Test
  void serverHalfCloseReachesClientWhichCanStillSend() throws Exception {
    // a backend that sends a greeting and FIN right away, then keeps reading and counts
    CompletableFuture<String> backendGot = new CompletableFuture<>();
    Channel listener = new io.netty.bootstrap.ServerBootstrap().group(mesh.group)
        .channel(mesh.transport.serverChannelClass())
        .childOption(io.netty.channel.ChannelOption.ALLOW_HALF_CLOSURE, true)
        .childHandler(new ChannelInboundHandlerAdapter() {
          final StringBuilder got = new StringBuilder();

          @Override
          public boolean isSharable() {
            return true;
          }

          @Override
          public void channelActive(ChannelHandlerContext ctx) {
            ctx.writeAndFlush(Unpooled.copiedBuffer("banner", StandardCharsets.UTF_8));
            TunnelChannels.shutdownOutput(ctx.channel());
          }

          @Override
          public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf b = (ByteBuf) msg;
            got.append(b.toString(StandardCharsets.UTF_8));
            b.release();
          }

          @Override
          public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof io.netty.channel.socket.ChannelInputShutdownEvent) {
              backendGot.complete(got.toString());
              ctx.close();
            }
          }
        })
        .bind("127.0.0.1", 0).sync().channel();
    try {
      int port = ((java.net.InetSocketAddress) listener.localAddress()).getPort();
      Channel tunnel = mesh.client.connect(mesh.target("127.0.0.1:" + port)).get(10, TimeUnit.SECONDS);
      Sink sink = Sink.attach(tunnel, true);
      sink.inputEnded.get(10, TimeUnit.SECONDS);
      assertThat(sink.text()).isEqualTo("banner");
      assertThat(tunnel.isActive()).isTrue();
      tunnel.writeAndFlush(Unpooled.copiedBuffer("after-fin", StandardCharsets.UTF_8));
      TunnelChannels.shutdownOutput(tunnel);
      assertThat(backendGot.get(10, TimeUnit.SECONDS)).isEqualTo("after-fin");
      sink.closed.get(10, TimeUnit.SECONDS);
    } finally {
      listener.close().sync();
    }
  }

  @Test
  void clientResetReachesTheBackend() throws Exception {
    CompletableFuture<Throwable> backendSaw = new CompletableFuture<>();
    Channel listener = new io.netty.bootstrap.ServerBootstrap().group(mesh.group)
        .channel(mesh.transport.serverChannelClass())
        .childOption(io.netty.channel.ChannelOption.ALLOW_HALF_CLOSURE, true)
        .childHandler(new ChannelInboundHandlerAdapter() {
          @Override
          public boolean isSharable() {
            return true;
          }

          @Override
          public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ((ByteBuf) msg).release();
          }

          @Override
          public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof io.netty.channel.socket.ChannelInputShutdownEvent) {
              backendSaw.complete(new AssertionError("got a clean FIN instead of a reset"));
            }
          }

          @Override
          public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            backendSaw.complete(cause);
          }

          @Override
          public void channelInactive(ChannelHandlerContext ctx) {
            backendSaw.complete(null);
          }
        })
        .bind("127.0.0.1", 0).sync().channel();
    try {
      int port = ((java.net.InetSocketAddress) listener.localAddress()).getPort();
      Channel tunnel = mesh.client.connect(mesh.target("127.0.0.1:" + port)).get(10, TimeUnit.SECONDS);
      Sink.attach(tunnel, false);
      tunnel.writeAndFlush(Unpooled.copiedBuffer("some bytes", StandardCharsets.UTF_8)).sync();
      TunnelChannels.reset(tunnel); // RST_STREAM(CANCEL)
      Throwable seen = backendSaw.get(10, TimeUnit.SECONDS);
      // the backend sees a TCP reset (an I/O error) — not a clean FIN
      assertThat(seen).isNotNull().isInstanceOf(java.io.IOException.class);
    } finally {
      listener.close().sync();
    }
  }

  @Test
  void backendResetReachesTheClientAsStreamReset() throws Exception {
    Channel listener = new io.netty.bootstrap.ServerBootstrap().group(mesh.group)
        .channel(mesh.transport.serverChannelClass())
        .childHandler(new ChannelInboundHandlerAdapter() {
          @Override
          public boolean isSharable() {
            return true;
          }

          @Override
          public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ((ByteBuf) msg).release();
            TunnelChannels.reset(ctx.channel()); // TCP RST mid-stream
          }
        })
        .bind("127.0.0.1", 0).sync().channel();
    try {
      int port = ((java.net.InetSocketAddress) listener.localAddress()).getPort();
      Channel tunnel = mesh.client.connect(mesh.target("127.0.0.1:" + port)).get(10, TimeUnit.SECONDS);
      Sink sink = Sink.attach(tunnel, false);
      tunnel.writeAndFlush(Unpooled.copiedBuffer("trigger", StandardCharsets.UTF_8));
      Throwable t = sink.error.get(10, TimeUnit.SECONDS);
      assertThat(t).isInstanceOf(HboneException.class);
      assertThat(((HboneException) t).kind()).isEqualTo(HboneException.Kind.STREAM_RESET);
      sink.closed.get(10, TimeUnit.SECONDS);
    } finally {
      listener.close().sync();
    }
  }

  @Test
  void slowReceiverBackpressuresTheSenderThroughFlowControl() throws Exception {
    // The server side accepts but does not read for a while: the client's stream must stop being
    // writable once the 4 MiB stream window is used, instead of buffering 20 MB.
    CompletableFuture<Channel> accepted = new CompletableFuture<>();
    try (TestMesh m = new TestMesh().startServer(HboneServerConfig.defaults(), (req, resp) -> accepted.complete(resp.accept()))
        .startClient(HboneClientConfig.defaults())) {
      Channel tunnel = m.client.connect(m.target("10.0.0.1:80")).get(10, TimeUnit.SECONDS);
      Channel serverSide = accepted.get(10, TimeUnit.SECONDS);
      long total = 20L << 20;
      CompletableFuture<Long> writtenWhenBlocked = new CompletableFuture<>();
      tunnel.eventLoop().execute(() -> {
        long written = 0;
        SplittableRandom r = new SplittableRandom(7);
        while (written < total && tunnel.isWritable()) {
          ByteBuf b = tunnel.alloc().buffer(64 << 10);
          byte[] a = new byte[64 << 10];
          r.nextBytes(a);
          b.writeBytes(a);
          tunnel.write(b);
          written += a.length;
          tunnel.flush();
        }
        writtenWhenBlocked.complete(written);
      });
      long written = writtenWhenBlocked.get(10, TimeUnit.SECONDS);
      assertThat(tunnel.isWritable()).isFalse();
      // the stream window (4 MiB) plus local buffering, far below 20 MB
      assertThat(written).isLessThan(8L << 20);
      // now let it read: the receiver gets everything that was queued, and the sender is writable again
      Sink sink = Sink.attach(serverSide, false);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (sink.count < written && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      assertThat(sink.count).isEqualTo(written);
      HbonePoolAndLifecycleTest.eventually(tunnel::isWritable); // once the WINDOW_UPDATEs are in
      TunnelChannels.reset(tunnel);
    }
  }

  /** Writes {@code total} pseudo-random bytes as fast as writability allows, then half-closes. */
  static final class Pump extends ChannelInboundHandlerAdapter {
    final CRC32 crc = new CRC32();
    final long total;
    final int chunk;
    final SplittableRandom random;
    final byte[] scratch;
    long sent;
    boolean ended;

    Pump(long total, int chunk, long seed) {
      this.total = total;
      this.chunk = chunk;
      this.random = new SplittableRandom(seed);
      this.scratch = new byte[chunk];
    }

    void pump(Channel ch) {
      while (sent < total && ch.isWritable()) {
        int n = (int) Math.min(chunk, total - sent);
        random.nextBytes(scratch);
        crc.update(scratch, 0, n);
        ByteBuf b = ch.alloc().directBuffer(n);
        b.writeBytes(scratch, 0, n);
        ch.write(b);
        sent += n;
      }
      ch.flush();
      if (sent == total && !ended) {
        ended = true;
        TunnelChannels.shutdownOutput(ch);
      }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
      if (ctx.channel().isWritable()) {
        pump(ctx.channel());
      }
      ctx.fireChannelWritabilityChanged();
    }
  }
}
