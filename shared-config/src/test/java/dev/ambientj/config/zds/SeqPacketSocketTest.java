package dev.ambientj.config.zds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambientj.config.zds.proto.AddWorkload;
import dev.ambientj.config.zds.proto.Version;
import dev.ambientj.config.zds.proto.WorkloadInfo;
import dev.ambientj.config.zds.proto.WorkloadRequest;
import dev.ambientj.config.zds.proto.ZdsHello;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SeqPacketSocketTest {
  @TempDir Path dir;

  /** Two real SEQPACKET sockets; a real netns fd (this thread's own) travels as SCM_RIGHTS. */
  @Test
  void messagesKeepTheirBoundariesAndCarryANetnsFd() throws Exception {
    Path path = dir.resolve("ztunnel.sock");
    try (SeqPacketListener listener = SeqPacketListener.bind(path)) {
      CompletableFuture<SeqPacketSocket> accepted = CompletableFuture.supplyAsync(() -> {
        try {
          return listener.accept();
        } catch (IOException e) {
          throw new RuntimeException(e);
        }
      });
      try (SeqPacketSocket client = SeqPacketSocket.connect(path);
          SeqPacketSocket server = accepted.get(5, TimeUnit.SECONDS)) {
        server.setTimeouts(Duration.ofSeconds(5));
        client.setTimeouts(Duration.ofSeconds(5));
        client.send(ZdsHello.newBuilder().setVersion(Version.V1).build().toByteArray(), -1);
        client.send(new byte[] {1, 2, 3}, -1);
        SeqPacketSocket.Received hello = server.receive();
        assertThat(hello.hasFd()).isFalse();
        assertThat(ZdsHello.parseFrom(hello.data()).getVersion()).isEqualTo(Version.V1);
        assertThat(server.receive().data()).containsExactly(1, 2, 3);

        int netns = Netns.open(Path.of("/proc/thread-self/ns/net"));
        try {
          WorkloadRequest add = WorkloadRequest.newBuilder().setAdd(AddWorkload.newBuilder()
              .setUid("uid-1").setWorkloadInfo(WorkloadInfo.newBuilder()
                  .setName("a").setNamespace("ns").setServiceAccount("sa"))).build();
          server.send(add.toByteArray(), netns);
        } finally {
          Netns.close(netns);
        }
        SeqPacketSocket.Received got = client.receive();
        assertThat(got.hasFd()).isTrue();
        try {
          Netns.checkNetwork(got.fd());
          assertThat(Files.readSymbolicLink(Path.of("/proc/self/fd/" + got.fd())))
              .isEqualTo(Files.readSymbolicLink(Path.of("/proc/thread-self/ns/net")));
        } finally {
          Netns.close(got.fd());
        }
        assertThat(WorkloadRequest.parseFrom(got.data()).getAdd().getWorkloadInfo().getName())
            .isEqualTo("a");
      }
    }
  }

  @Test
  void oversizedMessageIsTruncationError() throws Exception {
    try (Pair p = Pair.open(dir)) {
      p.client.send(new byte[SeqPacketSocket.MAX_MESSAGE + 1], -1);
      assertThatThrownBy(p.server::receive).hasMessageContaining("truncated");
    }
  }

  @Test
  void nonNetnsDescriptorIsRejected() throws Exception {
    int uts = Netns.open(Path.of("/proc/self/ns/uts"));
    int file = Netns.open(Path.of("/proc/self/status"));
    try {
      assertThatThrownBy(() -> Netns.checkNetwork(uts)).hasMessageContaining("not a network namespace");
      assertThatThrownBy(() -> Netns.checkNetwork(file)).isInstanceOf(IOException.class);
    } finally {
      Netns.close(uts);
      Netns.close(file);
    }
  }

  @Test
  void readTimeoutAndPeerCloseAreTold() throws Exception {
    try (Pair p = Pair.open(dir)) {
      p.server.setTimeouts(Duration.ofMillis(20));
      assertThatThrownBy(p.server::receive)
          .isInstanceOfSatisfying(IOException.class, e -> assertThat(SeqPacketSocket.isTimeout(e)).isTrue());
      p.client.close();
      assertThat(p.server.receive()).isNull();
    }
  }

  @Test
  void connectWithoutServerFails() {
    assertThatThrownBy(() -> SeqPacketSocket.connect(dir.resolve("none.sock")))
        .hasMessageContaining("connect");
  }

  private record Pair(SeqPacketListener listener, SeqPacketSocket client, SeqPacketSocket server)
      implements AutoCloseable {
    static Pair open(Path dir) throws Exception {
      SeqPacketListener l = SeqPacketListener.bind(dir.resolve("p.sock"));
      SeqPacketSocket c = SeqPacketSocket.connect(l.path());
      SeqPacketSocket s = l.accept(); // already queued: does not block
      return new Pair(l, c, s);
    }

    @Override
    public void close() {
      client.close();
      server.close();
      listener.close();
    }
  }
}
