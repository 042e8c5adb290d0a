package dev.ambientj.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.hbone.identity.WorkloadCertificate;
import dev.ambientj.testing.RawHttp2Connection;
import java.time.Duration;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The HBONE server's guards against a peer with a valid certificate: rapid reset, a connection
 * that never asks for anything, a CONNECT nobody answers (issue 15 items 4 and the 15008
 * deadlines). Real TLS, real HTTP/2 frames from {@link RawHttp2Connection}.
 */
@Timeout(60)
class ServerConnectionGuardTest {

  private final ConcurrentLinkedQueue<HboneServerEvent> events = new ConcurrentLinkedQueue<>();
  private final AtomicInteger connects = new AtomicInteger();
  private final AtomicInteger cancels = new AtomicInteger();

  /** A handler that never answers and counts the CONNECTs it was given and the cancels it got. */
  private final ConnectRequestHandler silent = new ConnectRequestHandler() {
    @Override
    public void onConnect(ConnectRequest request, ConnectResponder responder) {
      connects.incrementAndGet();
      responder.onCancel(cancels::incrementAndGet);
    }

    @Override
    public void onServerEvent(HboneServerEvent event) {
      events.add(event);
    }
  };

  /** A raw HTTP/2 connection to the mesh's server with a valid client certificate. */
  private static RawHttp2Connection open(TestMesh mesh) throws Exception {
    WorkloadCertificate cert = mesh.ca.issue(TestMesh.CLIENT_ID, Duration.ofHours(1));
    return RawHttp2Connection.open(mesh.group, mesh.transport.socketChannelClass(), cert.privateKey(), cert.chain(),
        mesh.serverAddress);
  }

  @Test
  void connectsResetBeforeTheirAnswerPastTheLimitGetGoAwayEnhanceYourCalm() throws Exception {
    HboneServerConfig config = HboneServerConfig.defaults().withPrematureResetLimit(50, Duration.ofSeconds(10));
    try (TestMesh mesh = new TestMesh().startServer(config, silent);
        RawHttp2Connection attacker = open(mesh)) {
      int sent = 0;
      for (int round = 0; round < 50 && !attacker.goAway.isDone() && attacker.channel.isActive(); round++) {
        sent += attacker.connects("127.0.0.1:9", 100, true);
        Thread.sleep(5);
      }

      assertThat(attacker.goAway.get(10, TimeUnit.SECONDS)).startsWith("ENHANCE_YOUR_CALM")
          .contains("limit 50");
      assertThat(attacker.channel.closeFuture().await(10, TimeUnit.SECONDS)).as("connection closed").isTrue();
      assertThat(sent).as("the attack was cut short").isLessThan(5000);
      awaitTrue(() -> cancels.get() == connects.get(), "every CONNECT handed out was cancelled");
      assertThat(connects.get()).as("CONNECTs the handler saw").isLessThanOrEqualTo(51 + config.maxConcurrentStreams());
      assertThat(events).extracting(HboneServerEvent::kind).containsExactly(HboneServerEvent.Kind.RAPID_RESET);
      assertThat(events.peek().peerIdentity()).isEqualTo(TestMesh.CLIENT_ID);
    }
  }

  @Test
  void resetsAfterTheAnswerAreNotCounted() throws Exception {
    HboneServerConfig config = HboneServerConfig.defaults().withPrematureResetLimit(5, Duration.ofSeconds(10));
    try (TestMesh mesh = new TestMesh().startEcho().startServer(config).startClient(HboneClientConfig.defaults())) {
      for (int i = 0; i < 30; i++) { // a client that opens tunnels and aborts them, as iperf3 does
        mesh.connectEcho().close().sync();
      }
      TestMesh.Sink echoed = TestMesh.Sink.attach(mesh.connectEcho(), true);
      assertThat(mesh.client.connectionCount()).as("still the first connection").isEqualTo(1);
      assertThat(echoed.error).isNotDone();
    }
  }

  @Test
  void aConnectionWithoutAConnectIsClosedAtTheFirstRequestDeadline() throws Exception {
    HboneServerConfig config = HboneServerConfig.defaults()
        .withDeadlines(Duration.ofSeconds(10), Duration.ofMillis(300), Duration.ofSeconds(10));
    try (TestMesh mesh = new TestMesh().startServer(config, silent);
        RawHttp2Connection idle = open(mesh)) {
      assertThat(idle.channel.closeFuture().await(10, TimeUnit.SECONDS)).as("closed by the server").isTrue();
      assertThat(events).extracting(HboneServerEvent::kind)
          .containsExactly(HboneServerEvent.Kind.FIRST_REQUEST_TIMEOUT);
      assertThat(connects.get()).isZero();
    }
  }

  @Test
  void aConnectionThatAsksInTimeIsKept() throws Exception {
    HboneServerConfig config = HboneServerConfig.defaults()
        .withDeadlines(Duration.ofSeconds(10), Duration.ofMillis(300), Duration.ofSeconds(10));
    try (TestMesh mesh = new TestMesh().startServer(config, silent);
        RawHttp2Connection client = open(mesh)) {
      client.connects("127.0.0.1:9", 1, false);
      assertThat(client.channel.closeFuture().await(1, TimeUnit.SECONDS)).as("still open").isFalse();
      assertThat(events).isEmpty();
    }
  }

  @Test
  void aConnectNotAnsweredInTimeGets504AndItsWorkIsCancelled() throws Exception {
    HboneServerConfig config = HboneServerConfig.defaults()
        .withDeadlines(Duration.ofSeconds(10), Duration.ofSeconds(10), Duration.ofMillis(300));
    try (TestMesh mesh = new TestMesh().startServer(config, silent);
        RawHttp2Connection client = open(mesh)) {
      client.connects("127.0.0.1:9", 1, false);
      awaitTrue(() -> !client.statuses.isEmpty(), "CONNECT answered");
      assertThat(client.statuses.values()).containsExactly("504");
      assertThat(cancels.get()).isEqualTo(1);
      // the server reports the event after writing the 504, so the client may see the 504 first
      awaitTrue(() -> !events.isEmpty(), "CONNECT_TIMEOUT reported");
      assertThat(events).extracting(HboneServerEvent::kind).containsExactly(HboneServerEvent.Kind.CONNECT_TIMEOUT);
      assertThat(events.peek().detail()).contains("127.0.0.1:9").contains("300 ms");
    }
  }

  private static void awaitTrue(java.util.function.BooleanSupplier condition, String what) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("not within 10 s: " + what);
      }
      Thread.sleep(20);
    }
  }
}
