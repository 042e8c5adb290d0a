package dev.ambientj.cni.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.zds.Netns;
import dev.ambientj.config.zds.SeqPacketSocket;
import dev.ambientj.config.zds.proto.Ack;
import dev.ambientj.config.zds.proto.Version;
import dev.ambientj.config.zds.proto.WorkloadRequest;
import dev.ambientj.config.zds.proto.WorkloadResponse;
import dev.ambientj.config.zds.proto.ZdsHello;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The node agent's ZDS server against a scripted ztunnel over two real SEQPACKET sockets. The
 * netns handed over is this process's own ({@code /proc/self/ns/net}), so no privilege is needed.
 */
class ZtunnelServerTest {
  private static final Path OWN_NETNS = Path.of("/proc/self/ns/net");
  @TempDir Path dir;

  /** What the fake ztunnel saw: the request and whether a valid netns fd came with it. */
  record Seen(WorkloadRequest request, boolean netnsFd) {}

  /** A scripted ztunnel: hello, then ACK everything except uids starting with "bad". */
  static final class FakeZtunnel implements AutoCloseable {
    final SeqPacketSocket socket;
    final BlockingQueue<Seen> seen = new LinkedBlockingQueue<>();
    final Thread thread;

    FakeZtunnel(Path path) throws Exception {
      socket = SeqPacketSocket.connect(path);
      socket.send(ZdsHello.newBuilder().setVersion(Version.V1).build().toByteArray(), -1);
      thread = Thread.ofPlatform().daemon().start(this::run);
    }

    private void run() {
      try {
        for (SeqPacketSocket.Received r; (r = socket.receive()) != null; ) {
          boolean valid = false;
          if (r.hasFd()) {
            try {
              Netns.checkNetwork(r.fd());
              valid = true;
            } catch (java.io.IOException notANetns) {
              // answered all the same: the test looks at netnsFd()
            } finally {
              Netns.close(r.fd());
            }
          }
          WorkloadRequest req = WorkloadRequest.parseFrom(r.data());
          seen.add(new Seen(req, valid));
          String error = req.hasAdd() && req.getAdd().getUid().startsWith("bad") ? "no such pod" : "";
          socket.send(WorkloadResponse.newBuilder().setAck(Ack.newBuilder().setError(error)).build()
              .toByteArray(), -1);
        }
      } catch (Exception e) {
        // closed
      }
    }

    Seen next() throws InterruptedException {
      Seen s = seen.poll(10, TimeUnit.SECONDS);
      assertThat(s).as("a request from the agent").isNotNull();
      return s;
    }

    @Override
    public void close() {
      socket.close();
    }
  }

  @Test
  void snapshotThenLiveAddsAndDelsAndResyncAfterReconnect() throws Exception {
    try (ZtunnelServer server = ZtunnelServer.start(dir.resolve("ztunnel.sock"))) {
      ZtunnelServer.Pod a = new ZtunnelServer.Pod("uid-a", "ns", "a", "sa-a", OWN_NETNS);
      ZtunnelServer.Pod bad = new ZtunnelServer.Pod("bad-b", "ns", "b", "sa-b", OWN_NETNS);
      try (FakeZtunnel zt = new FakeZtunnel(server.socket())) {
        assertThat(zt.next().request().hasSnapshotSent()).as("empty snapshot").isTrue();

        assertThat(server.add(a)).isEmpty();
        Seen add = zt.next();
        assertThat(add.netnsFd()).isTrue();
        assertThat(add.request().getAdd().getUid()).isEqualTo("uid-a");
        assertThat(add.request().getAdd().getWorkloadInfo().getServiceAccount()).isEqualTo("sa-a");

        assertThat(server.add(bad)).isEqualTo("no such pod");
        zt.next();
        assertThat(server.delete("bad-b")).isEmpty();
        assertThat(zt.next().request().getDel().getUid()).isEqualTo("bad-b");
      }
      // ztunnel restarts: the new connection gets every registered pod again, then SnapshotSent
      try (FakeZtunnel zt = new FakeZtunnel(server.socket())) {
        Seen resync = zt.next();
        assertThat(resync.request().getAdd().getUid()).isEqualTo("uid-a");
        assertThat(resync.netnsFd()).isTrue();
        assertThat(zt.next().request().hasSnapshotSent()).isTrue();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!server.connected() && System.nanoTime() < deadline) {
          Thread.sleep(10);
        }
        assertThat(server.connected()).isTrue();
        assertThat(server.pods().keySet()).containsExactly("uid-a");
      }
    }
  }

  @Test
  void duringARollingUpdateTheOldZtunnelStaysConnectedAndTheNewOneGetsThePods() throws Exception {
    try (ZtunnelServer server = ZtunnelServer.start(dir.resolve("surge.sock"))) {
      ZtunnelServer.Pod a = new ZtunnelServer.Pod("uid-a", "ns", "a", "sa-a", OWN_NETNS);
      ZtunnelServer.Pod b = new ZtunnelServer.Pod("uid-b", "ns", "b", "sa-b", OWN_NETNS);
      try (FakeZtunnel old = new FakeZtunnel(server.socket())) {
        assertThat(old.next().request().hasSnapshotSent()).isTrue();
        awaitConnected(server);
        assertThat(server.add(a)).isEmpty();
        assertThat(old.next().request().getAdd().getUid()).isEqualTo("uid-a");

        try (FakeZtunnel surge = new FakeZtunnel(server.socket())) {
          assertThat(surge.next().request().getAdd().getUid()).isEqualTo("uid-a");
          assertThat(surge.next().request().hasSnapshotSent()).isTrue();
          awaitConnected(server);
          assertThat(server.add(b)).isEmpty();
          assertThat(surge.next().request().getAdd().getUid()).isEqualTo("uid-b");
          // the old ztunnel keeps its connection (and pod a) and hears nothing more
          assertThat(old.seen.poll(300, TimeUnit.MILLISECONDS)).isNull();
          assertThat(old.thread.isAlive()).as("old ztunnel still connected").isTrue();
        }
        // the new one went away while the old one is still there: the old one is told to
        // reconnect (its connection ends), so that it resyncs instead of serving a stale set
        old.thread.join(Duration.ofSeconds(15));
        assertThat(old.thread.isAlive()).as("old connection closed by the agent").isFalse();
      }
    }
  }

  private static void awaitConnected(ZtunnelServer server) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!server.connected() && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    assertThat(server.connected()).as("snapshot acknowledged").isTrue();
  }

  @Test
  void aPodWhoseNetnsIsGoneIsKeptInTheSnapshot() throws Exception {
    try (ZtunnelServer server = ZtunnelServer.start(dir.resolve("z.sock"))) {
      try (FakeZtunnel zt = new FakeZtunnel(server.socket())) {
        zt.next(); // empty snapshot
        String error = server.add(new ZtunnelServer.Pod("uid-x", "ns", "x", "sa",
            dir.resolve("no-such-netns")));
        assertThat(error).contains("cannot open the network namespace");
      }
      try (FakeZtunnel zt = new FakeZtunnel(server.socket())) {
        List<Seen> got = List.of(zt.next(), zt.next());
        assertThat(got.get(0).request().getKeep().getUid()).isEqualTo("uid-x");
        assertThat(got.get(1).request().hasSnapshotSent()).isTrue();
      }
    }
  }
}
