package dev.ambientj.hbone.transport;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;

/** Nested caps on {@link EmbeddedChannel}s standing for accepted sockets. */
class ConnectionLimiterTest {
  private final ConnectionLimiter proxy = ConnectionLimiter.create("proxy", 5, 3);
  private final ConnectionLimiter listenerA = proxy.child("listener a", 3, 2);
  private final ConnectionLimiter listenerB = proxy.child("listener b", 3, 2);

  @Test
  void aListenerIsRefusedAtItsOwnHandshakeCapAndCountedThere() {
    assertThat(listenerA.admit(new EmbeddedChannel(), true)).isNull();
    assertThat(listenerA.admit(new EmbeddedChannel(), true)).isNull();

    ConnectionLimiter.Refusal third = listenerA.admit(new EmbeddedChannel(), true);

    assertThat(third.limiter()).isSameAs(listenerA);
    assertThat(third.limit()).isEqualTo(ConnectionLimiter.Limit.HANDSHAKES);
    assertThat(third.toString()).isEqualTo("listener a handshake limit 2");
    assertThat(listenerA.refused(ConnectionLimiter.Limit.HANDSHAKES)).isEqualTo(1);
    assertThat(listenerA.connections()).as("the refused one gave its slots back").isEqualTo(2);
    assertThat(proxy.connections()).isEqualTo(2);
    assertThat(proxy.handshakes()).isEqualTo(2);
  }

  @Test
  void theProxyCapHoldsAcrossListeners() {
    assertThat(listenerA.admit(new EmbeddedChannel(), true)).isNull();
    assertThat(listenerA.admit(new EmbeddedChannel(), true)).isNull();
    assertThat(listenerB.admit(new EmbeddedChannel(), true)).isNull();

    ConnectionLimiter.Refusal refused = listenerB.admit(new EmbeddedChannel(), true);

    assertThat(refused.limiter()).isSameAs(proxy);
    assertThat(refused.limit()).isEqualTo(ConnectionLimiter.Limit.HANDSHAKES);
    assertThat(listenerB.connections()).isEqualTo(1);
    assertThat(listenerB.handshakes()).isEqualTo(1);
    assertThat(proxy.refused(ConnectionLimiter.Limit.HANDSHAKES)).isEqualTo(1);
    assertThat(listenerB.refused(ConnectionLimiter.Limit.HANDSHAKES)).isZero();
  }

  @Test
  void handshakeDoneFreesAHandshakeSlotAndCloseFreesTheRest() {
    EmbeddedChannel first = new EmbeddedChannel();
    EmbeddedChannel second = new EmbeddedChannel();
    assertThat(listenerA.admit(first, true)).isNull();
    assertThat(listenerA.admit(second, true)).isNull();

    ConnectionLimiter.handshakeDone(first);
    ConnectionLimiter.handshakeDone(first); // idempotent

    assertThat(listenerA.handshakes()).isEqualTo(1);
    assertThat(proxy.handshakes()).isEqualTo(1);
    assertThat(listenerA.admit(new EmbeddedChannel(), true)).as("room for one more handshake")
        .isNull();
    assertThat(listenerA.admit(new EmbeddedChannel(), false).limit())
        .as("but the listener's 3 connections are taken")
        .isEqualTo(ConnectionLimiter.Limit.CONNECTIONS);

    first.close();
    second.close();

    assertThat(listenerA.connections()).isEqualTo(1);
    assertThat(listenerA.handshakes()).isEqualTo(1);
    assertThat(proxy.connections()).isEqualTo(1);
  }

  @Test
  void upstreamSocketsShareTheProxyCap() {
    for (int i = 0; i < 3; i++) {
      assertThat(listenerA.admit(new EmbeddedChannel(), false)).isNull();
    }
    assertThat(proxy.tryAcquireConnection()).isTrue();
    assertThat(proxy.tryAcquireConnection()).isTrue();
    assertThat(proxy.tryAcquireConnection()).as("5 sockets held").isFalse();
    assertThat(listenerB.admit(new EmbeddedChannel(), false).limiter()).isSameAs(proxy);

    proxy.releaseConnection();

    assertThat(listenerB.admit(new EmbeddedChannel(), false)).isNull();
    assertThat(proxy.refused(ConnectionLimiter.Limit.CONNECTIONS)).isEqualTo(2);
  }

  @Test
  void capsMustBePositive() {
    assertThatThrownBy(() -> ConnectionLimiter.create("proxy", 0, 1))
        .hasMessageContaining("proxy").hasMessageContaining(">= 1");
  }
}
