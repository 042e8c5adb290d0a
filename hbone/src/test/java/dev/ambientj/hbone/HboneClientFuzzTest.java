package dev.ambientj.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.ambientj.hbone.identity.IdentityProvider;
import dev.ambientj.hbone.identity.LocalCertificateAuthority;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.hbone.transport.SocketOrigin;
import dev.ambientj.hbone.transport.Transport;
import dev.ambientj.testing.FuzzInput;
import dev.ambientj.testing.TrackingAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Fuzzes the HBONE client with what a server sends back after TLS: the bytes go into the client's
 * real pipeline — the pooled {@link ClientConnection}, {@link ClientHandshakeHandler#installHttp2}
 * as after a verified handshake (keepalive, Netty's HTTP/2 codec with our settings, the
 * multiplexer, the connection tail), {@link ClientStreamHandler} per CONNECT and {@link
 * TunnelStreamCodec} after a 200 — on an {@link EmbeddedChannel} that a {@link SocketOrigin} hands
 * to the client in place of a socket. The TLS handler the client installs is taken out again. A
 * second connection the pool asks for (the first is full or going away) is refused.
 *
 * <p>Input: {@code [flags] server bytes…}: {@code flags & 3} + 1 CONNECTs are asked for (streams
 * 1, 3, 5), {@code flags >> 2} is the size of each write (0: at once). A tunnel that opens echoes
 * nothing and ends when the server ends. After the bytes the server goes quiet for 44 s (PINGs,
 * response timeouts, the keepalive close) and its socket closes.
 *
 * <p>A finding: an exception or Netty error report, a buffer not released, a CONNECT whose future
 * is never completed (the caller would wait forever), or a connection still pooled after its
 * socket closed.
 */
class HboneClientFuzzTest {
  private static final String TD = "cluster.local";
  private static final SpiffeId CLIENT = new SpiffeId(TD, "default", "client");
  private static final SpiffeId SERVER = new SpiffeId(TD, "default", "server");
  private static final IdentityProvider CERTS =
      LocalCertificateAuthority.create(TD).asIdentityProvider(Duration.ofHours(1));
  private static final InetSocketAddress SERVER_ADDRESS = new InetSocketAddress("127.0.0.3", 15008);
  /**
   * One client for every input, so its TLS contexts are built once; each input's connection lives
   * in a pool of its own (keyed by the input's event loop) and leaves it when it closes.
   */
  private static final HboneClient CLIENT_POOL = new HboneClient(HboneClientConfig.defaults(),
      Transport.select(Transport.Kind.AUTO), new EmbeddedChannel().eventLoop(), CERTS);

  /** A socket to the server, as the client's code reads its addresses. */
  private static final class ServerConnection extends EmbeddedChannel {
    private static final InetSocketAddress LOCAL = new InetSocketAddress("127.0.0.2", 40000);

    @Override
    protected SocketAddress localAddress0() {
      return LOCAL;
    }

    @Override
    protected SocketAddress remoteAddress0() {
      return SERVER_ADDRESS;
    }
  }

  /**
   * Hands the client {@code ch} instead of connecting a socket: runs the client's initializer on it
   * (TLS and the handshake handler), then stands for a handshake that verified {@link #SERVER}.
   */
  private static final class EmbeddedOrigin implements SocketOrigin {
    private final EmbeddedChannel ch;
    private boolean used;

    EmbeddedOrigin(EmbeddedChannel ch) {
      this.ch = ch;
    }

    @Override
    public CompletionStage<ChannelFuture> connect(io.netty.bootstrap.Bootstrap bootstrap, SocketAddress remote) {
      if (used) { // the pool wants a second connection (the first is full or going away): refused
        EmbeddedChannel refused = new EmbeddedChannel();
        return CompletableFuture.completedFuture(
            refused.newFailedFuture(new java.net.ConnectException("second connection refused by the fuzz origin")));
      }
      used = true;
      ch.pipeline().addLast(bootstrap.config().handler());
      ClientHandshakeHandler handshake = ch.pipeline().get(ClientHandshakeHandler.class);
      handshake.installHttp2(ch.pipeline().context(handshake), SERVER);
      ch.pipeline().remove("tls");
      for (Object o; (o = ch.readOutbound()) != null; ) {
        ReferenceCountUtil.release(o); // the ClientHello: no TLS here
      }
      return CompletableFuture.completedFuture(ch.newSucceededFuture());
    }
  }

  @FuzzTest
  void serverBytes(byte[] input) {
    if (input.length < 1) {
      return;
    }
    int connects = (input[0] & 3) + 1;
    int chunk = (input[0] & 0xFF) >> 2;
    FuzzInput.begin();
    TrackingAllocator alloc = new TrackingAllocator();
    ServerConnection ch = new ServerConnection();
    ch.freezeTime();
    ch.config().setAllocator(alloc);
    HboneClient client = CLIENT_POOL;
    EmbeddedOrigin origin = new EmbeddedOrigin(ch);
    List<CompletableFuture<Channel>> results = new ArrayList<>();
    try {
      for (int i = 0; i < connects; i++) {
        CompletableFuture<Channel> r = client.connect(new ConnectTarget(CLIENT, Set.of(SERVER), SERVER_ADDRESS,
            "10.0.0." + (5 + i) + ":8080"), origin, ch.eventLoop());
        r.thenAccept(HboneClientFuzzTest::consume);
        results.add(r);
      }
      ch.runPendingTasks();
      FuzzInput.releaseOutbound(ch);
      FuzzInput.writeInChunks(ch, input, 1, chunk);
      ch.runPendingTasks();
      FuzzInput.letTimePass(ch, 4, 11); // PING after 10 s idle, the keepalive close 20 s later
      ch.unsafe().close(ch.voidPromise()); // the server's socket goes away
      ch.runPendingTasks();
      FuzzInput.releaseOutbound(ch);
      ch.checkException();
      for (CompletableFuture<Channel> r : results) {
        assertThat(r).as("a CONNECT whose connection closed is answered").isDone();
      }
      assertThat(client.connectionCount()).as("a closed connection leaves the pool").isZero();
    } finally {
      for (CompletableFuture<Channel> r : results) {
        r.thenAccept(Channel::close);
      }
      ch.finishAndReleaseAll();
      FuzzInput.end("HBONE client input", alloc);
    }
  }

  /** What a relay does with a tunnel: reads it, drops the bytes, closes when the server ends. */
  private static void consume(Channel tunnel) {
    tunnel.pipeline().addLast(new ChannelInboundHandlerAdapter() {
      @Override
      public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ReferenceCountUtil.release(msg);
      }

      @Override
      public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
          ctx.close();
        }
        ReferenceCountUtil.release(evt);
      }

      @Override
      public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
      }
    });
    tunnel.config().setAutoRead(true);
  }
}
