package dev.ambientj.config.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Attributes;
import io.grpc.Grpc;
import io.netty.channel.Channel;
import io.netty.channel.embedded.EmbeddedChannel;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The gate on a listening channel ({@link EmbeddedChannel} standing for the listener, each child
 * an {@link EmbeddedChannel} with real socket addresses standing for an accepted socket): what it
 * lets through to the acceptor, what it closes, and when the listener stops accepting.
 */
class ConnectionGateTest {
  private static final InetSocketAddress LISTEN = new InetSocketAddress("127.0.0.1", 15010);
  private static final long HANDSHAKE_NANOS = TimeUnit.SECONDS.toNanos(10);

  private final EmbeddedChannel listener = new EmbeddedChannel();
  private int nextPort = 40000;

  /** An accepted socket from {@code ip}; its I/O thread runs only when the test says so. */
  private static final class Accepted extends EmbeddedChannel {
    private final InetSocketAddress remote;

    Accepted(InetSocketAddress remote) {
      this.remote = remote;
    }

    @Override
    protected SocketAddress remoteAddress0() {
      return remote;
    }

    @Override
    protected SocketAddress localAddress0() {
      return LISTEN;
    }
  }

  private ConnectionGate gate(int total, int perClient, int pending) {
    listener.freezeTime();
    ConnectionGate gate = new ConnectionGate(listener.eventLoop(), total, perClient, pending,
        HANDSHAKE_NANOS);
    listener.pipeline().addLast(gate);
    return gate;
  }

  /** Accepts a socket from {@code ip}; returns it (check {@link #passedOn} for the verdict). */
  private Accepted accept(String ip) {
    Accepted child = new Accepted(new InetSocketAddress(ip, nextPort++));
    listener.writeInbound(child);
    return child;
  }

  /** Whether the gate passed {@code child} on to the acceptor. */
  private boolean passedOn(Channel child) {
    Object next = listener.readInbound();
    return next == child;
  }

  private static void ready(ConnectionGate gate, Accepted child) {
    gate.readiness().transportReady(Attributes.newBuilder()
        .set(Grpc.TRANSPORT_ATTR_LOCAL_ADDR, LISTEN)
        .set(Grpc.TRANSPORT_ATTR_REMOTE_ADDR, child.remoteAddress()).build());
  }

  @Test
  void aClientOverItsCapIsRefusedAtOnceWhileOthersGetIn() {
    ConnectionGate gate = gate(100, 2, 100);
    Accepted a1 = accept("10.0.0.1");
    Accepted a2 = accept("10.0.0.1");
    assertThat(passedOn(a1)).isTrue();
    assertThat(passedOn(a2)).isTrue();
    Accepted a3 = accept("10.0.0.1");
    assertThat(passedOn(a3)).isFalse();
    assertThat(a3.isOpen()).as("closed on the accepting thread").isFalse();
    Accepted b = accept("10.0.0.2");
    assertThat(passedOn(b)).isTrue();
    assertThat(gate.stats().refusedPerClient()).isEqualTo(1);

    // A closed connection gives its place back.
    a1.close();
    Accepted a4 = accept("10.0.0.1");
    assertThat(passedOn(a4)).isTrue();
    assertThat(gate.stats().open()).isEqualTo(3);
  }

  @Test
  void overThePendingCapTheOldestSocketStillInItsHandshakeMakesRoom() {
    ConnectionGate gate = gate(100, 100, 2);
    Accepted idle1 = accept("10.0.0.1");
    Accepted idle2 = accept("10.0.0.2");
    Accepted proxy = accept("10.0.0.3");
    assertThat(passedOn(idle1)).isTrue();
    assertThat(passedOn(idle2)).isTrue();
    assertThat(passedOn(proxy)).as("the newcomer is admitted").isTrue();
    assertThat(idle1.isOpen()).as("closed by its I/O thread, not yet").isTrue();
    idle1.runPendingTasks();
    assertThat(idle1.isOpen()).as("the oldest in its handshake is closed").isFalse();
    assertThat(idle2.isOpen()).isTrue();
    assertThat(gate.stats().evictedInHandshake()).isEqualTo(1);
    assertThat(gate.stats().pendingHandshakes()).isEqualTo(2);
    assertThat(gate.stats().open()).isEqualTo(2);
  }

  @Test
  void atTheTotalCapAHandshakingSocketMakesRoomAndWithoutOneTheNewcomerIsRefused() {
    ConnectionGate gate = gate(2, 100, 100);
    Accepted proxy = accept("10.0.0.1");
    Accepted idle = accept("10.0.0.2");
    passedOn(proxy);
    passedOn(idle);
    ready(gate, proxy);

    Accepted second = accept("10.0.0.3");
    assertThat(passedOn(second)).isTrue();
    assertThat(listener.config().isAutoRead())
        .as("over the cap until the evicted socket is closed: not accepting").isFalse();
    idle.runPendingTasks();
    assertThat(idle.isOpen()).isFalse();
    assertThat(listener.config().isAutoRead()).as("back at the cap: accepting").isTrue();

    ready(gate, second);
    Accepted third = accept("10.0.0.4");
    assertThat(passedOn(third)).as("every open connection past its handshake").isFalse();
    assertThat(third.isOpen()).isFalse();
    assertThat(proxy.isOpen()).isTrue();
    assertThat(second.isOpen()).isTrue();
    assertThat(gate.stats().refusedTotal()).isEqualTo(1);
  }

  @Test
  void aSocketStillInItsHandshakeAtTheDeadlineIsClosedAndAReadyOneIsNot() {
    ConnectionGate gate = gate(100, 100, 100);
    Accepted idle = accept("10.0.0.1");
    Accepted proxy = accept("10.0.0.2");
    ready(gate, proxy);
    listener.advanceTimeBy(HANDSHAKE_NANOS - 1, TimeUnit.NANOSECONDS);
    listener.runScheduledPendingTasks();
    idle.runPendingTasks();
    assertThat(idle.isOpen()).as("before the deadline").isTrue();

    listener.advanceTimeBy(1, TimeUnit.NANOSECONDS);
    listener.runScheduledPendingTasks();
    idle.runPendingTasks();
    proxy.runPendingTasks();
    assertThat(idle.isOpen()).isFalse();
    assertThat(proxy.isOpen()).isTrue();
    assertThat(gate.stats().handshakeTimeouts()).isEqualTo(1);
    assertThat(gate.stats().open()).isEqualTo(1);
  }

  @Test
  void aFailedAcceptPausesAcceptingWithBackoffAndAcceptingResumesByItself() {
    ConnectionGate gate = gate(100, 100, 100);
    listener.pipeline().fireExceptionCaught(new IOException("Too many open files"));
    assertThat(listener.config().isAutoRead()).isFalse();
    listener.advanceTimeBy(50, TimeUnit.MILLISECONDS);
    listener.runScheduledPendingTasks();
    assertThat(listener.config().isAutoRead()).isTrue();

    listener.pipeline().fireExceptionCaught(new IOException("Too many open files"));
    listener.advanceTimeBy(50, TimeUnit.MILLISECONDS);
    listener.runScheduledPendingTasks();
    assertThat(listener.config().isAutoRead()).as("the second pause is longer").isFalse();
    listener.advanceTimeBy(50, TimeUnit.MILLISECONDS);
    listener.runScheduledPendingTasks();
    assertThat(listener.config().isAutoRead()).isTrue();
    assertThat(gate.stats().acceptFailures()).isEqualTo(2);
    listener.checkException(); // not passed on
  }

  @Test
  void acceptingPausesWhileTheIoThreadsOweTooManyClosesAndResumesWhenTheyCatchUp() {
    ConnectionGate gate = gate(10_000, 10_000, 1);
    Accepted[] sockets = new Accepted[ConnectionGate.MAX_CLOSING + 1];
    for (int i = 0; i < sockets.length; i++) {
      sockets[i] = accept("10.0." + (i / 250) + "." + (i % 250 + 1));
    }
    // Each newcomer evicted the one before it; none of those closes has run yet.
    assertThat(gate.stats().closing()).isEqualTo(ConnectionGate.MAX_CLOSING);
    assertThat(listener.config().isAutoRead()).isFalse();
    for (Accepted s : sockets) {
      s.runPendingTasks();
    }
    assertThat(gate.stats().closing()).isZero();
    assertThat(gate.stats().open()).isEqualTo(1);
    assertThat(listener.config().isAutoRead()).isTrue();
  }
}
