package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * The restart probe: real {@code ./mesh ztunnel} processes for node-a and node-b on loopback,
 * traffic from api-gateway-0 (node-a) to orders (node-b) through SOCKS5 and HBONE — a new
 * connection every 10 ms and {@value #LONG_LIVED} long-lived echo connections — while one node's
 * ztunnel is replaced:
 *
 * <ul>
 *   <li><b>restart</b>: SIGTERM to the running ztunnel, its successor started at once;
 *   <li><b>surge</b>: the successor started first, SIGTERM to the old one once it is ready.
 * </ul>
 *
 * <p>Must hold: no new connection fails (refused, reset, timed out or short); every long-lived
 * connection ends with a FIN, not a reset, at or after the drain deadline, and the old ztunnel
 * logs it — one access-log line flagged {@code DRAIN} whose byte counts are what the app and the
 * client saw. The old process exits after its drain, not before. Counts are printed.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ZtunnelRestartTest {
  private static final String P = "127.161";
  private static final int LONG_LIVED = 20;
  /**
   * TERMINATION_GRACE_PERIOD_SECONDS given to every ztunnel: a drain deadline of 15 s, time for a
   * successor started after the SIGTERM to come up on a busy 2-core machine (the DaemonSet's 30 s
   * give 25 s).
   */
  private static final int GRACE_SECONDS = 20;
  private static final Duration DRAIN_DEADLINE = Duration.ofSeconds(GRACE_SECONDS - 5);
  private static final Duration STARTUP = Duration.ofSeconds(90);
  private static final InetSocketAddress ORDERS_APP = new InetSocketAddress(P + ".2.10", 8080);
  private static final InetSocketAddress CLIENT_SOCKS = new InetSocketAddress(P + ".1.10", 15080);
  private static final String ORDERS = "orders.production.svc.cluster.local";

  @TempDir
  static Path dir;
  private Path config;
  private CountingEchoServer app;
  private final Map<String, MeshProcess> running = new HashMap<>();
  private int generation;

  @BeforeAll
  void start() throws Exception {
    config = Files.writeString(dir.resolve("mesh.yaml"), TestMeshes.example(P));
    app = CountingEchoServer.start(ORDERS_APP);
    running.put("node-a", startZtunnel("node-a"));
    assertThat(awaitReady(running.get("node-a"))).as("node-a ready").isTrue();
    running.put("node-b", startZtunnel("node-b"));
    assertThat(awaitReady(running.get("node-b"))).as("node-b ready").isTrue();
  }

  @AfterAll
  void stop() throws Exception {
    for (MeshProcess p : running.values()) {
      p.close();
    }
    MeshProcess.keepLogs(dir, getClass());
    if (app != null) {
      app.close();
    }
  }

  @Test
  @Order(1)
  void restartOfTheSourceNodeLosesNothing() throws Exception {
    replace("node-a", false);
  }

  @Test
  @Order(2)
  void restartOfTheDestinationNodeLosesNothing() throws Exception {
    replace("node-b", false);
  }

  @Test
  @Order(3)
  void surgeOnTheSourceNodeLosesNothing() throws Exception {
    replace("node-a", true);
  }

  @Test
  @Order(4)
  void surgeOnTheDestinationNodeLosesNothing() throws Exception {
    replace("node-b", true);
  }

  private void replace(String node, boolean surge) throws Exception {
    String what = (surge ? "surge" : "restart") + " of " + node;
    MeshProcess old = running.get(node);
    String tag = (surge ? "surge-" : "restart-") + node;
    try (ConnectionProbe probe = new ConnectionProbe(CLIENT_SOCKS, ORDERS, 80, tag)) {
      List<ConnectionProbe.LongLived> longLived = probe.openLongLived(LONG_LIVED);
      probe.startNewConnections(Duration.ofMillis(10));
      TimeUnit.SECONDS.sleep(1);
      MeshProcess successor;
      long sigterm;
      boolean successorReadyFirst = false;
      if (surge) {
        successor = startZtunnel(node);
        successorReadyFirst = awaitReady(successor);
        sigterm = System.nanoTime();
        old.terminate();
      } else {
        sigterm = System.nanoTime();
        old.terminate();
        successor = startZtunnel(node);
      }
      running.put(node, successor);
      Integer exit = old.awaitExit(DRAIN_DEADLINE.plusSeconds(30));
      double exitedAfter = (System.nanoTime() - sigterm) / 1e9;
      boolean successorReady = awaitReady(successor);
      TimeUnit.SECONDS.sleep(1);
      List<ConnectionProbe.Attempt> attempts = probe.stopNewConnections();
      awaitEnded(longLived, Duration.ofSeconds(10));

      long failed = attempts.stream().filter(a -> a.failure() != null).count();
      Map<String, Long> endings = new java.util.TreeMap<>();
      for (ConnectionProbe.LongLived c : longLived) {
        endings.merge(String.valueOf(c.ending()), 1L, Long::sum);
      }
      List<Map<String, String>> drained = accessLog(old).stream()
          .filter(l -> "DRAIN".equals(l.get("response_flags"))).toList();
      System.out.printf("%s: %d new connections, %d failed %s, longest outage %d ms;"
              + " old ztunnel exited %.2f s after SIGTERM (exit code %s), successor ready %s%s;"
              + " %d long-lived connections ended %s, %d access-log lines flagged DRAIN%n",
          what, attempts.size(), failed, ConnectionProbe.failureReasons(attempts),
          ConnectionProbe.longestOutageMillis(attempts), exitedAfter, exit, successorReady,
          surge ? " (before SIGTERM: " + successorReadyFirst + ")" : "", longLived.size(),
          endings, drained.size());

      assertThat(successorReady).as("the successor became ready").isTrue();
      if (surge) {
        assertThat(successorReadyFirst).as("the successor was ready before SIGTERM").isTrue();
      }
      assertThat(exit).as("the old ztunnel exited").isNotNull();
      assertThat(failed).as("new connections that failed during the " + what).isZero();
      assertThat(attempts.size()).as("new connections attempted").isGreaterThan(300);
      assertThat(exitedAfter).as("seconds from SIGTERM to exit: not before the drain deadline")
          .isGreaterThanOrEqualTo(DRAIN_DEADLINE.toMillis() / 1000.0);
      List<String> problems = new ArrayList<>();
      for (ConnectionProbe.LongLived c : longLived) {
        double endedAfter = (c.endNanos() - sigterm) / 1e9;
        if (!"FIN".equals(c.ending())) {
          problems.add(c.name + " ended " + c.ending());
        } else if (endedAfter < DRAIN_DEADLINE.toMillis() / 1000.0 - 0.1) {
          problems.add(c.name + " ended " + endedAfter + " s after SIGTERM, before the deadline");
        }
        CountingEchoServer.Tally tally = app.tally(c.name);
        Map<String, String> line = drained.stream()
            .filter(l -> Long.parseLong(l.get("bytes_recv")) == c.received()
                && tally != null && Long.parseLong(l.get("bytes_sent")) == tally.bytes())
            .findFirst().orElse(null);
        if (line == null) {
          problems.add(c.name + ": no DRAIN access-log line of the old ztunnel with bytes_sent "
              + (tally == null ? "?" : tally.bytes()) + " (the app's count) and bytes_recv "
              + c.received() + " (the client's)");
        }
        if (tally == null || !"FIN".equals(tally.ending())) {
          problems.add(c.name + ": the app saw " + (tally == null ? "nothing" : tally.ending()));
        }
      }
      assertThat(problems).as("long-lived connections across the " + what).isEmpty();
      assertThat(old.log()).contains("drain");
    }
  }

  private MeshProcess startZtunnel(String node) throws IOException {
    generation++;
    return MeshProcess.start(node + "-" + generation, dir.resolve(node + "-" + generation + ".log"),
        Map.of("TERMINATION_GRACE_PERIOD_SECONDS", String.valueOf(GRACE_SECONDS)),
        "ztunnel", "--config", config.toString(), "--node", node,
        "--state-dir", dir.resolve("state").toString());
  }

  /** Waits for the process's "ready" line: its readiness endpoint may be the old one's port. */
  private static boolean awaitReady(MeshProcess p) throws InterruptedException {
    return p.awaitLine(l -> l.contains("ztunnel for node ") && l.contains(" ready: serving"), STARTUP);
  }

  private static void awaitEnded(List<ConnectionProbe.LongLived> conns, Duration timeout)
      throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline
        && conns.stream().anyMatch(c -> c.ending() == null)) {
      TimeUnit.MILLISECONDS.sleep(50);
    }
  }

  private static final Pattern FIELD =
      Pattern.compile("\"([a-z_.]+)\":(?:\"((?:[^\"\\\\]|\\\\.)*)\"|([0-9]+))");

  /** The access-log lines of {@code p}, as field maps. */
  static List<Map<String, String>> accessLog(MeshProcess p) {
    List<Map<String, String>> lines = new ArrayList<>();
    for (String l : p.lines()) {
      if (!l.contains("\"scope\":\"access\"")) {
        continue;
      }
      Map<String, String> fields = new HashMap<>();
      Matcher m = FIELD.matcher(l);
      while (m.find()) {
        fields.put(m.group(1), m.group(2) != null ? m.group(2) : m.group(3));
      }
      lines.add(fields);
    }
    return lines;
  }
}
