package dev.ambientj.ztunnel.inpod;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.zds.Netns;
import dev.ambientj.config.zds.SeqPacketListener;
import dev.ambientj.config.zds.SeqPacketSocket;
import dev.ambientj.config.zds.proto.AddWorkload;
import dev.ambientj.config.zds.proto.DelWorkload;
import dev.ambientj.config.zds.proto.KeepWorkload;
import dev.ambientj.config.zds.proto.SnapshotSent;
import dev.ambientj.config.zds.proto.Version;
import dev.ambientj.config.zds.proto.WorkloadRequest;
import dev.ambientj.config.zds.proto.WorkloadResponse;
import dev.ambientj.config.zds.proto.ZdsHello;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ztunnel's ZDS client against a scripted node agent over real SEQPACKET sockets; the netns fd
 * passed is this process's own, so no privilege is needed.
 */
class ZdsClientTest {
  @TempDir Path dir;

  /** Records calls; validates and closes the fds it receives. */
  static final class Recorder implements ZdsClient.Handler {
    final List<String> calls = new CopyOnWriteArrayList<>();

    @Override
    public String add(String uid, String namespace, String name, String sa, int netnsFd) {
      try {
        Netns.checkNetwork(netnsFd);
        calls.add("add " + uid + " " + namespace + "/" + name);
        return "";
      } catch (Exception e) {
        return e.getMessage();
      } finally {
        Netns.close(netnsFd);
      }
    }

    @Override
    public String delete(String uid) {
      calls.add("del " + uid);
      return "";
    }

    @Override
    public String snapshotSent(Set<String> named) {
      calls.add("snapshot " + named.stream().sorted().toList());
      return "";
    }

    @Override
    public void ready(boolean ready) {
      calls.add("ready " + ready);
    }
  }

  @Test
  void appliesRequestsInOrderAndRejectsMisplacedDescriptors() throws Exception {
    Recorder rec = new Recorder();
    try (SeqPacketListener agent = SeqPacketListener.bind(dir.resolve("zds.sock"));
        ZdsClient client = new ZdsClient(agent.path(), rec).start()) {
      try (SeqPacketSocket conn = agent.accept()) {
        conn.setTimeouts(Duration.ofSeconds(10));
        assertThat(ZdsHello.parseFrom(conn.receive().data()).getVersion()).isEqualTo(Version.V1);

        assertThat(exchange(conn, add("uid-1"), true)).isEmpty();
        assertThat(exchange(conn, add("uid-2"), false)).contains("without a network namespace");
        assertThat(exchange(conn, WorkloadRequest.newBuilder()
            .setKeep(KeepWorkload.newBuilder().setUid("uid-3")).build(), false)).isEmpty();
        assertThat(exchange(conn, WorkloadRequest.newBuilder()
            .setSnapshotSent(SnapshotSent.getDefaultInstance()).build(), false)).isEmpty();
        assertThat(exchange(conn, WorkloadRequest.newBuilder()
            .setKeep(KeepWorkload.newBuilder().setUid("uid-4")).build(), false))
            .contains("only valid before SnapshotSent");
        assertThat(exchange(conn, WorkloadRequest.newBuilder()
            .setDel(DelWorkload.newBuilder().setUid("uid-1")).build(), true))
            .contains("must not carry a file descriptor");
        assertThat(exchange(conn, WorkloadRequest.newBuilder()
            .setDel(DelWorkload.newBuilder().setUid("uid-1")).build(), false)).isEmpty();
        assertThat(exchange(conn, new byte[] {(byte) 0xff, 1})).contains("cannot parse");
      }
      // the agent went away: not ready; the client comes back with a new hello
      try (SeqPacketSocket again = agent.accept()) {
        again.setTimeouts(Duration.ofSeconds(10));
        assertThat(ZdsHello.parseFrom(again.receive().data()).getVersion()).isEqualTo(Version.V1);
      }
    }
    assertThat(rec.calls).startsWith("add uid-1 ns/pod", "snapshot [uid-1, uid-3]", "ready true",
        "del uid-1", "ready false");
  }

  private static WorkloadRequest add(String uid) {
    return WorkloadRequest.newBuilder().setAdd(AddWorkload.newBuilder().setUid(uid)
        .setWorkloadInfo(dev.ambientj.config.zds.proto.WorkloadInfo.newBuilder()
            .setNamespace("ns").setName("pod").setServiceAccount("sa"))).build();
  }

  private static String exchange(SeqPacketSocket conn, WorkloadRequest req, boolean withFd)
      throws Exception {
    int fd = withFd ? Netns.open(Path.of("/proc/thread-self/ns/net")) : -1;
    try {
      conn.send(req.toByteArray(), fd);
    } finally {
      Netns.close(fd);
    }
    return WorkloadResponse.parseFrom(conn.receive().data()).getAck().getError();
  }

  private static String exchange(SeqPacketSocket conn, byte[] raw) throws Exception {
    conn.send(raw, -1);
    return WorkloadResponse.parseFrom(conn.receive().data()).getAck().getError();
  }
}
