package dev.ambientj.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.hbone.transport.ConnectionLimiter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import org.junit.jupiter.api.Test;

/** 15008's rule for a client that half-closes before its TLS handshake is done. */
class HalfClosedHandshakeGuardTest {
  private final ConnectionLimiter listener = ConnectionLimiter.create("hbone", 10, 10);

  @Test
  void halfCloseDuringTheHandshakeClosesAtOnce() {
    EmbeddedChannel ch = new EmbeddedChannel(WorkloadListeners.HalfClosedHandshakeGuard.INSTANCE);
    assertThat(listener.admit(ch, true)).isNull();

    ch.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);

    assertThat(ch.isOpen()).isFalse();
    assertThat(listener.connections()).isZero();
  }

  @Test
  void afterTheHandshakeAHalfCloseIsTheRelaysToHandle() {
    EmbeddedChannel ch = new EmbeddedChannel(WorkloadListeners.HalfClosedHandshakeGuard.INSTANCE);
    assertThat(listener.admit(ch, true)).isNull();
    ConnectionLimiter.handshakeDone(ch);

    ch.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);

    assertThat(ch.isOpen()).isTrue();
    assertThat((Object) ch.readInbound()).isNull();
    ch.finishAndReleaseAll();
  }
}
