package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A source ztunnel that dies silently — frozen with SIGSTOP, so its sockets stay open and say
 * nothing, as when its node or network goes away — is noticed by the destination ztunnel within
 * 10 s (HTTP/2 PING), which closes the app's connections relayed for it and logs each.
 */
class PeerZtunnelDeathTest {
  private static final String P = "127.163";
  private static final int CONNECTIONS = 5;
  private static final Duration STARTUP = Duration.ofSeconds(90);

  @TempDir
  static Path dir;

  @Test
  void theDestinationClosesTheTunnelsOfASilentPeerWithin10Seconds() throws Exception {
    Path config = Files.writeString(dir.resolve("mesh.yaml"), TestMeshes.example(P));
    try (CountingEchoServer app = CountingEchoServer.start(new InetSocketAddress(P + ".2.10", 8080));
        MeshProcess a = ztunnel(config, "node-a");
        MeshProcess b = ready(a) ? ztunnel(config, "node-b") : null; // one creates the local CA
        ConnectionProbe probe = new ConnectionProbe(new InetSocketAddress(P + ".1.10", 15080),
            "orders.production.svc.cluster.local", 80, "peer-death")) {
      assertThat(b).as("node-a ready:\n%s", a.log()).isNotNull();
      assertThat(ready(b)).as("node-b ready:\n%s", b.log()).isTrue();
      List<ConnectionProbe.LongLived> conns = probe.openLongLived(CONNECTIONS);
      TimeUnit.SECONDS.sleep(1);
      assertThat(conns).allSatisfy(c -> assertThat(app.tally(c.name)).isNotNull());

      new ProcessBuilder("kill", "-STOP", String.valueOf(a.pid())).start().waitFor();
      long stopped = System.nanoTime();
      List<Double> endedAfter = new ArrayList<>();
      List<String> ended = new ArrayList<>();
      double pingTimedOut = -1;
      try {
        long deadline = stopped + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline && endedAfter.size() < CONNECTIONS) {
          double now = (System.nanoTime() - stopped) / 1e9;
          if (pingTimedOut < 0 && b.log().contains("no answer to PING")) {
            pingTimedOut = now;
          }
          for (ConnectionProbe.LongLived c : conns) {
            if (app.tally(c.name).ending() != null && !ended.contains(c.name)) {
              ended.add(c.name);
              endedAfter.add(now);
            }
          }
          TimeUnit.MILLISECONDS.sleep(50);
        }
        // the access-log lines are written as the relays end
        TimeUnit.SECONDS.sleep(1);
      } finally {
        new ProcessBuilder("kill", "-CONT", String.valueOf(a.pid())).start().waitFor();
      }
      List<Map<String, String>> inbound = ZtunnelRestartTest.accessLog(b).stream()
          .filter(l -> "inbound".equals(l.get("direction"))
              && l.getOrDefault("dst.workload", "").equals("orders-0"))
          .toList();
      System.out.printf("silent source ztunnel: node-b's PING timed out after %.2f s; the app's %d"
              + " connections ended after %s s (%s); node-b logged %d inbound lines for them: %s%n",
          pingTimedOut, CONNECTIONS, endedAfter,
          conns.stream().map(c -> app.tally(c.name).ending()).toList(), inbound.size(),
          inbound.stream().map(l -> l.get("error")).toList());
      assertThat(endedAfter).as("seconds from the peer's silence to the app's connections ending")
          .allSatisfy(s -> assertThat(s).isLessThanOrEqualTo(10.0));
      assertThat(inbound).as("node-b's access-log lines for the relayed connections")
          .hasSize(CONNECTIONS);
      assertThat(b.log()).contains("no answer to PING");
    } finally {
      MeshProcess.keepLogs(dir, getClass());
    }
  }

  private static MeshProcess ztunnel(Path config, String node) throws Exception {
    return MeshProcess.start(node, dir.resolve(node + ".log"), Map.of(),
        "ztunnel", "--config", config.toString(), "--node", node,
        "--state-dir", dir.resolve("state").toString());
  }

  private static boolean ready(MeshProcess p) throws InterruptedException {
    return p.awaitLine(l -> l.contains(" ready: serving"), STARTUP);
  }
}
