package dev.ambientj.ztunnel.inpod;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.ambientj.config.zds.Netns;
import dev.ambientj.config.zds.SeqPacketListener;
import dev.ambientj.config.zds.SeqPacketSocket;
import dev.ambientj.config.zds.proto.WorkloadResponse;
import dev.ambientj.config.zds.proto.ZdsHello;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

/**
 * Fuzzes ztunnel's end of ZDS ({@link ZdsClient}): the messages a node agent sends over the real
 * {@code SOCK_SEQPACKET} socket, with or without a network namespace descriptor attached (this
 * process's own, so no privilege is needed), into the client's request loop and a handler that
 * accepts everything and closes what it is given.
 *
 * <p>Input: messages, each {@code [flags] [length] bytes…}: {@code flags & 1} attaches a netns
 * descriptor, {@code length} (0–255) bytes follow (fewer if the input ends). Seeds ({@code
 * ZdsClientFuzzTestInputs/agentMessages/}): a snapshot of adds and keeps, a delete, garbage.
 *
 * <p>A finding: an exception out of the client's loop, a message not answered with exactly one
 * {@code Ack}, or a descriptor left open (the client owns every one it receives). An empty message
 * may end the conversation instead: on {@code SOCK_SEQPACKET} a zero-length record reads as the
 * end of the stream (and an agent never sends one: every request has a payload).
 */
class ZdsClientFuzzTest {
  private static final Path NETNS = Path.of("/proc/thread-self/ns/net");
  private static final SeqPacketListener AGENT;

  static {
    try {
      AGENT = SeqPacketListener.bind(Files.createTempDirectory("zds-fuzz").resolve("ztunnel.sock"));
    } catch (IOException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  /** Accepts everything; closes the descriptor it is handed, as InPodWorkloads does once bound. */
  private static final ZdsClient.Handler HANDLER = new ZdsClient.Handler() {
    @Override
    public String add(String uid, String namespace, String name, String serviceAccount, int netnsFd) {
      Netns.close(netnsFd);
      return "";
    }

    @Override
    public String delete(String uid) {
      return "";
    }

    @Override
    public String snapshotSent(Set<String> named) {
      return "";
    }

    @Override
    public void ready(boolean ready) {}
  };

  @FuzzTest
  void agentMessages(byte[] input) throws Exception {
    long fdsBefore = openDescriptors();
    ZdsClient client = new ZdsClient(AGENT.path(), HANDLER);
    AtomicReference<Throwable> failure = new AtomicReference<>();
    SeqPacketSocket ztunnelSide = SeqPacketSocket.connect(AGENT.path());
    Thread loop = Thread.ofPlatform().name("zds-fuzz-client").start(() -> {
      try (ztunnelSide) {
        client.serve(ztunnelSide);
      } catch (Throwable t) {
        failure.set(t);
      }
    });
    try (SeqPacketSocket agent = AGENT.accept()) {
      agent.setTimeouts(Duration.ofSeconds(5));
      assertThat(ZdsHello.parseFrom(agent.receive().data()).getVersion().getNumber()).isEqualTo(1);
      int at = 0;
      while (at + 2 <= input.length) {
        boolean withFd = (input[at] & 1) != 0;
        int len = Math.min(input[at + 1] & 0xFF, input.length - at - 2);
        byte[] message = Arrays.copyOfRange(input, at + 2, at + 2 + len);
        at += 2 + len;
        int fd = withFd ? Netns.open(NETNS) : -1;
        try {
          agent.send(message, fd);
        } finally {
          Netns.close(fd);
        }
        SeqPacketSocket.Received answer = agent.receive();
        if (message.length == 0 && answer == null) {
          break; // a zero-length record reads as end of stream on SOCK_SEQPACKET: the client hung up
        }
        assertThat(answer).as("an answer to every message").isNotNull();
        assertThat(answer.hasFd()).isFalse();
        assertThat(WorkloadResponse.parseFrom(answer.data()).hasAck()).as("the answer is an Ack").isTrue();
      }
    }
    loop.join(5_000);
    assertThat(loop.isAlive()).as("the client's loop ends when the agent hangs up").isFalse();
    assertThat(failure.get()).as("nothing thrown out of the client's loop").isNull();
    assertThat(openDescriptors()).as("descriptors open after the conversation").isLessThanOrEqualTo(fdsBefore);
  }

  private static long openDescriptors() {
    try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
      return fds.count();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
