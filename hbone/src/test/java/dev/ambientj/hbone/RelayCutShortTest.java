package dev.ambientj.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 15 item 6: a tunnel whose HBONE connection dies under it was relayed as a clean end — FIN
 * to the socket on the other side, no error in the access log. It must be an error.
 */
@Timeout(60)
class RelayCutShortTest {

  @Test
  void aTunnelWhoseConnectionClosesIsRelayedAsAnErrorNotAnEnd() throws Exception {
    try (TestMesh mesh = TestMesh.standard()) {
      Channel tunnel = mesh.connectEcho();
      TestMesh.Sink echoed = TestMesh.Sink.attach(tunnel, true);
      tunnel.writeAndFlush(Unpooled.copiedBuffer("hello", StandardCharsets.UTF_8));
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (echoed.count < 5 && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }

      // the HBONE connection dies (closed below TLS and HTTP/2: no GOAWAY, no END_STREAM, no RST_STREAM)
      tunnel.parent().pipeline().firstContext().close();

      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (mesh.relayResults.isEmpty() && System.nanoTime() < until) {
        Thread.sleep(10);
      }
      assertThat(mesh.relayResults).as("the server's relay finished").hasSize(1);
      Object cause = mesh.relayResults.peek()[2];
      assertThat(cause).as("an error, not a clean end").isInstanceOf(HboneException.class);
      assertThat(((HboneException) cause).kind()).isEqualTo(HboneException.Kind.CONNECTION_CLOSED);
      assertThat(((Throwable) cause).getMessage()).contains("tunnel cut short");
    }
  }
}
