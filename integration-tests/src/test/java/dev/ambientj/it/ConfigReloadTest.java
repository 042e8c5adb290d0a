package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.launcher.demo.Socks5Client;
import dev.ambientj.ztunnel.Ztunnel;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Workloads added to or removed from the watched config file get their listeners opened or drained
 * without restarting ztunnel (example mesh moved to 127.22.x).
 */
class ConfigReloadTest {
  private static final String P = "127.22";

  @Test
  void aWorkloadAddedToTheFileGetsListenersAndLeavesWithoutBreakingLiveConnections(
      @TempDir Path dir) throws Exception {
    int fdBaseline = OpenFiles.count();
    Path file = dir.resolve("mesh.yaml");
    String base = TestMeshes.example(P);
    String withNewPod = base + TestMeshes.pod("orders-1", "orders", "node-b", P + ".2.11", 9000);
    Files.writeString(file, base);
    InetSocketAddress newHbone = new InetSocketAddress(P + ".2.11", 15008);

    try (Mesh mesh = Mesh.fromFile(file)) {
      mesh.node("node-a").ztunnel();
      Ztunnel nodeB = mesh.node("node-b").ztunnel();
      InetSocketAddress socks = mesh.workload("api-gateway-0").socks();
      assertThat(listening(newHbone)).isFalse();

      Files.writeString(file, withNewPod);
      awaitListening(newHbone, true);
      assertThat(nodeB.configDump()).contains("production/orders-1");
      mesh.workload("orders-1").tcpEcho(9000);

      try (Socket live = Socks5Client.connect(socks, P + ".2.11", 9000, Mesh.TIMEOUT)) {
        assertThat(roundTrip(live, "before")).isEqualTo("before");

        Files.writeString(file, base);
        awaitListening(newHbone, false);

        assertThat(roundTrip(live, "after removal")).as("a live connection drains, not dies")
            .isEqualTo("after removal");
      }
      mesh.node("node-b").awaitAccessLog(l -> l.contains("\"dst.hbone_addr\":\"" + P + ".2.11:9000\""));
    }
    int now = OpenFiles.awaitBaseline(fdBaseline, Mesh.TIMEOUT);
    assertThat(now).isLessThanOrEqualTo(fdBaseline + OpenFiles.SLACK);
  }

  @Test
  void aListenerThatCannotBindIsRetriedOnTheNextSnapshot() throws Exception {
    String p = "127.24";
    String yaml = TestMeshes.example(p);
    try (java.net.ServerSocket squatter = new java.net.ServerSocket()) {
      squatter.bind(new InetSocketAddress(p + ".2.10", 15080));
      try (Mesh mesh = Mesh.fromYaml(yaml)) {
        mesh.node("node-a").ztunnel();
        Ztunnel nodeB = mesh.node("node-b").ztunnel();
        assertThat(nodeB.configDump()).contains("\"state\": \"bind failed\"");
        assertThat(listening(new InetSocketAddress(p + ".2.20", 15080))).as("others unaffected")
            .isTrue();

        squatter.close();
        mesh.apply(yaml);

        awaitListening(new InetSocketAddress(p + ".2.10", 15080), true);
        assertThat(nodeB.configDump()).doesNotContain("bind failed");
        mesh.workload("orders-0").httpEcho(8080);
        assertThat(Socks5Client.httpGet(mesh.workload("api-gateway-0").socks(), "orders", 80, "/",
            Mesh.TIMEOUT)).contains("orders-0");
      }
    }
  }

  private static String roundTrip(Socket s, String text) throws IOException {
    OutputStream out = s.getOutputStream();
    InputStream in = s.getInputStream();
    byte[] bytes = text.getBytes(StandardCharsets.US_ASCII);
    out.write(bytes);
    out.flush();
    return new String(in.readNBytes(bytes.length), StandardCharsets.US_ASCII);
  }

  private static void awaitListening(InetSocketAddress address, boolean expected)
      throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
    while (listening(address) != expected) {
      assertThat(System.nanoTime()).as("%s listening == %s in time", address, expected)
          .isLessThan(deadline);
      TimeUnit.MILLISECONDS.sleep(50);
    }
  }

  private static boolean listening(InetSocketAddress address) {
    try (Socket s = new Socket()) {
      s.connect(address, 1000);
      return true;
    } catch (IOException e) {
      return false;
    }
  }
}
