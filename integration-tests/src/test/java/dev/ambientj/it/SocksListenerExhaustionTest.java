package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.launcher.demo.Socks5Client;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Issue 15 item 3 as the bench found it: a client that opens SOCKS5 connections and closes them
 * before the handshake finishes must not cost ztunnel a descriptor per connection, and neither the
 * node's readiness nor another workload's traffic may suffer while it does. Host mode, the example
 * mesh moved to 127.213.x; the attacker is api-gateway-0's SOCKS port, the bystander inventory-0
 * (same node) calling orders across nodes.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SocksListenerExhaustionTest {
  private static final String P = "127.213";
  private static final int FLOOD = 20_000;

  private Mesh mesh;
  private InetSocketAddress attacked;
  private InetSocketAddress bystander;

  @BeforeAll
  void startMesh() throws Exception {
    mesh = Mesh.fromYaml(TestMeshes.example(P)
        + TestMeshes.podWithService("inventory-0", "inventory", "node-a", P + ".1.20", 8080,
            P + ".10.60", 80));
    mesh.node("node-a").ztunnel();
    mesh.node("node-b").ztunnel();
    mesh.workload("orders-0").httpEcho(8080);
    attacked = mesh.workload("api-gateway-0").socks();
    bystander = mesh.workload("inventory-0").socks();
  }

  @AfterAll
  void stopMesh() throws Exception {
    if (mesh != null) {
      mesh.close();
    }
  }

  @Test
  void connectAndCloseFloodLeavesNoDescriptorsBehind() throws Exception {
    // Warm every path once so lazily opened descriptors (HBONE pool, jars) are in the baseline.
    assertThat(Socks5Client.httpGet(bystander, "orders.production.svc.cluster.local", 80, "/warm",
        Mesh.TIMEOUT)).contains("\"workload\":\"orders-0\"");
    assertThat(readiness()).isEqualTo(200);
    int baseline = OpenFiles.count();

    AtomicBoolean attacking = new AtomicBoolean(true);
    ExecutorService pool = Executors.newFixedThreadPool(6);
    try {
      Future<int[]> probes = pool.submit(() -> repeatWhile(attacking, () -> readiness() == 200));
      AtomicInteger request = new AtomicInteger();
      Future<int[]> neighbour = pool.submit(() -> repeatWhile(attacking, () ->
          Socks5Client.httpGet(bystander, "orders.production.svc.cluster.local", 80,
              "/during-" + request.incrementAndGet(), Mesh.TIMEOUT)
              .contains("\"workload\":\"orders-0\"")));
      List<Future<int[]>> attackers = new ArrayList<>();
      int threads = 4;
      long started = System.nanoTime();
      for (int t = 0; t < threads; t++) {
        attackers.add(pool.submit(() -> connectAndClose(attacked, FLOOD / threads)));
      }
      int connected = 0;
      int refused = 0;
      for (Future<int[]> f : attackers) {
        int[] r = f.get(5, TimeUnit.MINUTES);
        connected += r[0];
        refused += r[1];
      }
      double seconds = (System.nanoTime() - started) / 1e9;
      int afterFlood = OpenFiles.count();
      long settleStart = System.nanoTime();
      int settled = OpenFiles.awaitBaseline(baseline, Duration.ofSeconds(15));
      double settleSeconds = (System.nanoTime() - settleStart) / 1e9;
      attacking.set(false);
      int[] ready = probes.get(1, TimeUnit.MINUTES);
      int[] traffic = neighbour.get(1, TimeUnit.MINUTES);
      System.out.printf("item 3: %d connect-and-close in %.1f s (%d failed on the client side);"
              + " open fds baseline %d, right after %d, after settling %d (%.1f s);"
              + " readiness 200: %d, other/failed: %d; bystander requests ok %d, failed %d%n",
          connected, seconds, refused, baseline, afterFlood, settled, settleSeconds, ready[0],
          ready[1], traffic[0], traffic[1]);

      assertThat(connected).as("connections the flood completed").isEqualTo(FLOOD);
      assertThat(settled).as("open fds 15 s after %d connect-and-close (baseline %d)", FLOOD,
          baseline).isLessThanOrEqualTo(baseline + OpenFiles.SLACK);
      assertThat(ready[1]).as("readiness probes that did not answer 200").isZero();
      assertThat(ready[0]).as("readiness probes answered").isPositive();
      assertThat(traffic[1]).as("bystander requests that failed during the flood").isZero();
      assertThat(traffic[0]).as("bystander requests that succeeded").isPositive();
    } finally {
      attacking.set(false);
      pool.shutdownNow();
    }
    assertThat(readiness()).isEqualTo(200);
  }

  /** A check that succeeded or not; an exception is a failure. */
  @FunctionalInterface
  interface Check {
    boolean passes() throws Exception;
  }

  /** Runs {@code check} every 50 ms while {@code running}; returns {passed, failed}. */
  static int[] repeatWhile(AtomicBoolean running, Check check) throws InterruptedException {
    int passed = 0;
    int failed = 0;
    while (running.get()) {
      boolean ok;
      try {
        ok = check.passes();
      } catch (InterruptedException e) {
        throw e;
      } catch (Exception e) { // EMFILE surfaces as IOException or UncheckedIOException
        ok = false;
      }
      if (ok) {
        passed++;
      } else {
        failed++;
      }
      TimeUnit.MILLISECONDS.sleep(50);
    }
    return new int[] {passed, failed};
  }

  /** Opens and at once closes {@code n} connections; returns {connected, failed}. */
  private static int[] connectAndClose(InetSocketAddress target, int n) {
    int ok = 0;
    int failed = 0;
    for (int i = 0; i < n; i++) {
      try (Socket s = new Socket()) {
        s.connect(target, 5_000);
        ok++;
      } catch (IOException | RuntimeException e) {
        failed++;
      }
    }
    return new int[] {ok, failed};
  }

  private int readiness() throws IOException, InterruptedException {
    InetSocketAddress ready = mesh.node("node-a").ztunnel().readinessAddress();
    try (HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build()) {
      return http.send(HttpRequest.newBuilder(URI.create("http://"
                  + ready.getAddress().getHostAddress() + ":" + ready.getPort() + "/healthz/ready"))
              .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString())
          .statusCode();
    }
  }
}
