package dev.ambientj.ztunnel.outbound;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.testing.FuzzInput;
import dev.ambientj.testing.TrackingAllocator;
import dev.ambientj.ztunnel.ExampleMesh;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Fuzzes port 15080's front end: {@link Socks5RequestDecoder} and {@link Socks5ServerHandler} on an
 * {@link EmbeddedChannel}, host names resolved by the real mesh resolver over the example mesh.
 *
 * <p>Input: {@code [outcome] [flags] client bytes…}. {@code outcome % 7} is what the outbound path
 * answers to a CONNECT (0 connected, 1–5 a {@link OutboundCallback.Failure}, 6 nothing yet);
 * {@code flags}: low 5 bits the size of each write (0: the whole input at once), bit 5 a
 * half-close after the bytes, bit 6 the client closes. Seeds: {@code
 * Socks5ServerHandlerFuzzTestInputs/socks5Client/}.
 *
 * <p>A finding: an exception or a Netty error report, a buffer not released, or a client that is
 * neither served nor closed once the handshake deadline has passed.
 */
class Socks5ServerHandlerFuzzTest {
  private static final MeshSnapshot MESH = ExampleMesh.snapshot();
  private static final Duration HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);
  private static final OutboundCallback.Failure[] FAILURES = OutboundCallback.Failure.values();

  @FuzzTest
  void socks5Client(byte[] input) {
    if (input.length < 2) {
      return;
    }
    int outcome = (input[0] & 0xFF) % 7;
    int flags = input[1] & 0xFF;
    int chunk = flags & 0x1F;
    FuzzInput.begin();
    TrackingAllocator alloc = new TrackingAllocator();
    EmbeddedChannel ch = new EmbeddedChannel();
    ch.freezeTime();
    ch.config().setAllocator(alloc);
    boolean[] connectRequested = new boolean[1];
    Socks5ServerHandler.install(ch.pipeline(), new Socks5ServerHandler.SocksTargetResolver() {
      @Override
      public InetAddress resolve(String host) {
        return OutboundResolver.resolveHostname(MESH, host, "production").orElse(null);
      }

      @Override
      public void connect(ChannelHandlerContext ctx, InetSocketAddress destination, String requestedHost,
          OutboundCallback callback) {
        connectRequested[0] = true;
        if (outcome == 0) {
          callback.onConnected();
        } else if (outcome <= FAILURES.length) {
          callback.onFailed(FAILURES[outcome - 1], "fuzz");
        }
      }
    }, HANDSHAKE_TIMEOUT, reason -> { });
    try {
      FuzzInput.writeInChunks(ch, input, 2, chunk);
      FuzzInput.releaseInbound(ch);
      if ((flags & 0x20) != 0 && ch.isOpen()) {
        ch.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
      }
      if ((flags & 0x40) != 0) {
        ch.close();
      }
      ch.advanceTimeBy(HANDSHAKE_TIMEOUT.toMillis() + 1, TimeUnit.MILLISECONDS);
      ch.runPendingTasks();
      ch.runScheduledPendingTasks();
      FuzzInput.releaseInbound(ch);
      FuzzInput.releaseOutbound(ch);
      if (!connectRequested[0] || outcome != 0 && outcome != 6) {
        assertThat(ch.isOpen())
            .as("a client not being served is closed once the handshake deadline has passed")
            .isFalse();
      }
      ch.checkException();
    } finally {
      ch.finishAndReleaseAll();
      FuzzInput.end("SOCKS5 input", alloc);
    }
  }
}
