package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import static dev.ambientj.it.MeshProcesses.eventually;
import static dev.ambientj.it.MeshProcesses.text;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@code mesh ztunnel --xds} started before its config server, with no cached set: as Istio's
 * ztunnel it stays up and not ready, and becomes ready when the server comes — here 40 s later —
 * without restarting. The config server's log names the ztunnel's xDS stream with the ztunnel's
 * own IP ({@code INSTANCE_IP}, the pod's {@code status.podIP} in a cluster), not the address it
 * dialled.
 *
 * <pre>
 *   ztunnel node-a (127.89.100.1) ──xDS──▶ 127.89.200.1:15010   (config-server, started 40 s later)
 * </pre>
 */
class ZtunnelWaitsForConfigServerTest {
  private static final String P = "127.89";
  private static final String SERVER = P + ".200.1:15010";
  private static final String ZTUNNEL_IP = P + ".100.1";
  private static final Duration SERVER_LATER = Duration.ofSeconds(40);
  private static final Duration BOUND = Duration.ofSeconds(120);

  private final MeshProcesses processes = new MeshProcesses();

  @AfterEach
  void stop() throws Exception {
    processes.close();
  }

  @Test
  void aZtunnelStartedBeforeItsConfigServerWaitsNotReadyThenComesUpWithoutRestarting() throws Exception {
    Path dir = Files.createTempDirectory("ambientj-ztunnel-waits");
    Path mesh = dir.resolve("mesh.yaml");
    Files.writeString(mesh, TestMeshes.example(P));
    Path ztunnelLog = dir.resolve("ztunnel.log");
    Path serverLog = dir.resolve("config-server.log");
    InetSocketAddress readiness = new InetSocketAddress(ZTUNNEL_IP, 15021);

    long started = System.nanoTime();
    Process ztunnel = processes.start(ztunnelLog, Map.of("INSTANCE_IP", ZTUNNEL_IP), "ztunnel", "--xds", SERVER,
        "--node", "node-a", "--admin-address", ZTUNNEL_IP, "--state-dir", dir.resolve("ztunnel").toString());
    long pid = ztunnel.pid();
    eventually(BOUND, "ztunnel says what it waits for", ztunnel, ztunnelLog,
        () -> text(ztunnelLog).contains("no configuration from the xDS server at " + SERVER + " yet"));
    long left = SERVER_LATER.toNanos() - (System.nanoTime() - started);
    if (left > 0) {
      Thread.sleep(TimeUnit.NANOSECONDS.toMillis(left));
    }
    assertThat(ztunnel.isAlive()).as("ztunnel still running %d s after its start without a server",
        SERVER_LATER.toSeconds()).withFailMessage(() -> text(ztunnelLog)).isTrue();
    assertThat(ready(readiness)).as("not ready without a configuration").isFalse();

    processes.start(serverLog, Map.of(), "config-server", "--config", mesh.toString(), "--listen", SERVER,
        "--state-dir", dir.resolve("server").toString());
    eventually(BOUND, "ztunnel ready once the server is there", ztunnel, ztunnelLog, () -> ready(readiness));
    assertThat(ztunnel.pid()).as("the same process: never restarted").isEqualTo(pid);
    assertThat(text(ztunnelLog)).contains("received configuration from the xDS server at " + SERVER);
    assertThat(text(serverLog)).as("the config server names the stream with the ztunnel's own IP")
        .contains("xDS stream from ztunnel~" + ZTUNNEL_IP + "~")
        .doesNotContain("ztunnel~" + P + ".200.1~");
  }

  /** Whether {@code /healthz/ready} answers 200. */
  private static boolean ready(InetSocketAddress a) {
    try (Socket s = new Socket()) {
      s.connect(a, 1000);
      s.setSoTimeout(5000);
      s.getOutputStream().write("GET /healthz/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
          .getBytes(StandardCharsets.US_ASCII));
      byte[] head = s.getInputStream().readNBytes(12);
      return new String(head, StandardCharsets.US_ASCII).startsWith("HTTP/1.1 200");
    } catch (IOException e) {
      return false;
    }
  }
}
