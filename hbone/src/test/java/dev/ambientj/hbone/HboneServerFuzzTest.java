package dev.ambientj.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.ambientj.hbone.identity.LocalCertificateAuthority;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.testing.FuzzInput;
import dev.ambientj.testing.TrackingAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;

/**
 * Fuzzes the HBONE server (15008) behind TLS: the bytes a client sends once the handshake is done
 * go into the server's real pipeline — {@link ServerHandshakeHandler#installHttp2} builds it as
 * after a verified handshake (keepalive, Netty's HTTP/2 codec with our settings and reset limits,
 * the multiplexer, {@link ServerStreamHandler} per stream, {@link TunnelStreamCodec} once accepted)
 * on an {@link EmbeddedChannel}.
 *
 * <p>The CONNECT handler answers by the target port, so the fuzzer reaches every answer: {@code
 * port % 5} 0 accept (the tunnel echoes what it receives and ends when the client ends), 1 refuse
 * 401, 2 accept on a later task, 3 refuse 503 on a later task, 4 the handler throws. Then the
 * client goes quiet for 44 s (PING, then the keepalive close) and its socket closes.
 *
 * <p>Input: {@code [chunk] bytes…}: the bytes are written {@code chunk} at a time (0: at once).
 * Seeds ({@code HboneServerFuzzTestInputs/clientBytes/}, written by {@code perf/fuzz/make-seeds.py}):
 * the client preface, SETTINGS and a CONNECT, then one of each HTTP/2 frame type, as Envoy's codec
 * corpus has.
 *
 * <p>A finding: an exception that reaches the connection's tail or any stream's (Netty reports the
 * latter), a buffer not released, or streams or connections still counted after the close.
 */
class HboneServerFuzzTest {
  private static final SpiffeId SERVER = new SpiffeId("cluster.local", "default", "server");
  private static final SpiffeId CLIENT = new SpiffeId("cluster.local", "default", "client");
  private static final LocalCertificateAuthority CA = LocalCertificateAuthority.create("cluster.local");
  private static final HboneServerConfig CONFIG = HboneServerConfig.defaults();
  private static final dev.ambientj.hbone.identity.IdentityProvider CERTS = CA.asIdentityProvider(Duration.ofHours(1));

  /**
   * An accepted connection as the server's code sees one: TCP addresses, and a listening channel as
   * parent (Netty's multiplexer tells server from client by the parent; without one it took the
   * client's stream 1 for an h2c upgrade and closed the connection).
   */
  static final class TcpEmbeddedChannel extends EmbeddedChannel {
    private static final InetSocketAddress LOCAL = new InetSocketAddress("127.0.0.2", 15008);
    private static final InetSocketAddress REMOTE = new InetSocketAddress("127.0.0.3", 40000);

    TcpEmbeddedChannel() {
      super(new Listener(), io.netty.channel.DefaultChannelId.newInstance(), true, false);
    }

    /** Stands for the listening socket; never used but as the parent. */
    private static final class Listener extends EmbeddedChannel implements io.netty.channel.ServerChannel {}

    @Override
    protected SocketAddress localAddress0() {
      return LOCAL;
    }

    @Override
    protected SocketAddress remoteAddress0() {
      return REMOTE;
    }
  }

  @FuzzTest
  void clientBytes(byte[] input) {
    if (input.length < 1) {
      return;
    }
    int chunk = input[0] & 0xFF;
    FuzzInput.begin();
    TrackingAllocator alloc = new TrackingAllocator();
    HboneServer server = HboneServer.create(CONFIG, CERTS, SERVER,
        HboneServerFuzzTest::answer);
    EmbeddedChannel ch = new TcpEmbeddedChannel();
    try {
      ch.freezeTime();
      ch.config().setAllocator(alloc);
      ServerHandshakeHandler handshake = new ServerHandshakeHandler(server);
      ch.pipeline().addLast("hbone-handshake", handshake);
      handshake.installHttp2(ch.pipeline().context(handshake), CLIENT);
      FuzzInput.writeInChunks(ch, input, 1, chunk);
      ch.runPendingTasks();
      FuzzInput.letTimePass(ch, 4, 11); // PING after 10 s idle, the keepalive close 20 s later
      // The client's socket goes away (as TCP's FIN/RST ends a real one). Not ch.close(): that is
      // the codec's graceful close, whose drain timer an EmbeddedChannel never arms (on a real
      // socket it closes at the drain timeout).
      ch.unsafe().close(ch.voidPromise());
      ch.runPendingTasks();
      FuzzInput.releaseOutbound(ch);
      ch.checkException();
      assertThat(server.activeStreams()).as("streams still counted after the connection closed").isZero();
      assertThat(server.activeConnections()).as("connections still counted after the close").isZero();
    } finally {
      ch.finishAndReleaseAll();
      FuzzInput.end("HBONE server input", alloc);
    }
  }

  /** The CONNECT handler: the answer depends on the target port (see the class comment). */
  private static void answer(ConnectRequest req, ConnectResponder responder) {
    switch (req.target().port() % 5) {
      case 0 -> echo(responder.accept());
      case 1 -> responder.refuse(401, "denied by the fuzz handler");
      case 2 -> responder.eventLoop().execute(() -> echo(responder.accept()));
      case 3 -> responder.eventLoop().execute(() -> responder.refuse(503, "no upstream"));
      default -> throw new IllegalStateException("the fuzz handler failed");
    }
  }

  /** What a relay to an echo server does with an accepted tunnel. */
  private static void echo(Channel tunnel) {
    tunnel.pipeline().addLast(new ChannelInboundHandlerAdapter() {
      @Override
      public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ctx.writeAndFlush(msg);
      }

      @Override
      public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
          TunnelChannels.shutdownOutput(ctx.channel()).addListener(f -> ctx.close());
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
