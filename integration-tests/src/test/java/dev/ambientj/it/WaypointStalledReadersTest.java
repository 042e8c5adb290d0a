package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.launcher.demo.Socks5Client;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 15, item 7 (waypoint): readers that stop reading large responses must not delay another
 * client's responses through the same waypoint, and the memory the waypoint used for them must be
 * given back. The waypoint runs as its own process ({@code ./mesh waypoint}, with ./mesh's JVM
 * flags) so its resident memory can be read; the ztunnels and the backends run in this JVM:
 *
 * <pre>
 * api-gateway-0 ×30 (stalled) ─┐
 *                              ├─SOCKS5─▶ ztunnel node-a ──HBONE──▶ payment-waypoint (process, 127.151.1.30)
 * checkout-0 (reads)  ─────────┘          ──HBONE──▶ ztunnel node-b ──▶ payment-v1-0 / payment-v2-0 (bulk HTTP)
 * </pre>
 *
 * <p>The other client is a second pod on the same node with its own service account: node-a's
 * ztunnel carries it to the waypoint on an HBONE connection of its own (connections are pooled by
 * source identity), so what is measured is the waypoint: its upstream connections to node-b's
 * pods carry every response, stalled or not (one event loop, so one connection per endpoint).
 * Before the fix, the stalled responses held those connections' whole flow-control window and the
 * other client's requests timed out. (A client in the same pod as the stalled readers shares their
 * HBONE connection from node-a's ztunnel; that connection's isolation is ztunnel's receive side.)
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class WaypointStalledReadersTest {
  private static final String P = "127.151";
  private static final String PAYMENT = "payment-service.production.svc.cluster.local";
  private static final int STALLED = 30;
  private static final long LARGE = 50_000_000;
  private static final long SMALL = 100_000;
  private static final Duration GENEROUS = Duration.ofSeconds(2);
  private static final long RSS_SLACK_KIB = 20 * 1024;

  @TempDir
  static Path dir;
  private Mesh mesh;
  private WaypointProcess waypoint;
  private final List<BulkHttpBackend> backends = new ArrayList<>();

  @BeforeAll
  void startMesh() throws Exception {
    String yaml = TestMeshes.example(P) + TestMeshes.pod("checkout-0", "checkout", "node-a", P + ".1.11", 8080);
    mesh = WaypointProcess.twoNodeMesh(yaml, dir);
    backends.add(BulkHttpBackend.start(mesh, "payment-v1-0", 8080));
    backends.add(BulkHttpBackend.start(mesh, "payment-v2-0", 8080));
    // one event loop: every stream then shares the waypoint's upstream connections to the endpoints
    // (with N loops each loop has its own, and which one the other client lands on is chance)
    waypoint = mesh.own(WaypointProcess.start(dir.resolve("mesh.yaml"), dir, "production", "payment-waypoint",
        P + ".1.30", List.of("--worker-threads", "1")));
    WaypointProcess.awaitServing(mesh.workload("checkout-0").socks(), PAYMENT);
  }

  @AfterAll
  void stopMesh() throws Exception {
    if (mesh != null) {
      mesh.close(); // the waypoint process too
    }
  }

  @Test
  void stalledReadersDoNotDelayAnotherClientAndTheirMemoryIsGivenBack() throws Exception {
    InetSocketAddress other = mesh.workload("checkout-0").socks();
    InetSocketAddress staller = mesh.workload("api-gateway-0").socks();

    // warm up (JIT, pools, TLS sessions, heap), including large responses read to the end
    for (int i = 0; i < 4; i++) {
      assertThat(fetch(other, LARGE / 10).complete()).isTrue();
      assertThat(fetch(staller, LARGE / 10).complete()).isTrue();
    }
    List<Timed> before = timedFetches(other, 60);
    long baseline = settledRss();
    diagnose("baseline");

    List<Socket> stalled = new ArrayList<>();
    long peak;
    List<Timed> during;
    try {
      int started = backendRequests();
      for (int i = 0; i < STALLED; i++) {
        Socket s = Socks5Client.connect(staller, PAYMENT, 80, Mesh.TIMEOUT);
        s.setReceiveBufferSize(4096);
        stalled.add(s);
        OutputStream out = s.getOutputStream();
        out.write(BulkHttpBackend.request(PAYMENT, "/bytes/" + LARGE));
        out.flush();
      }
      long deadline = System.nanoTime() + Mesh.TIMEOUT.toNanos();
      while (backendRequests() < started + STALLED && System.nanoTime() < deadline) {
        TimeUnit.MILLISECONDS.sleep(20);
      }
      assertThat(backendRequests()).as("the backends got every stalled reader's request")
          .isGreaterThanOrEqualTo(started + STALLED);
      TimeUnit.SECONDS.sleep(3); // every pipe between the backends and the stalled readers fills
      peak = waypoint.rssKib();
      during = timedFetches(other, 60);
      peak = Math.max(peak, waypoint.rssKib());
      diagnose("stalled");
    } finally {
      for (Socket s : stalled) {
        s.close();
      }
    }
    long after = awaitRss(baseline + RSS_SLACK_KIB, Duration.ofSeconds(30));
    diagnose("after");

    System.out.printf("waypoint RSS: baseline %d MiB, with %d stalled readers %d MiB, after %d MiB%n",
        baseline / 1024, STALLED, peak / 1024, after / 1024);
    System.out.printf("other client, %d KB responses: p50/p99/max before %s ms, during the stall %s ms%n",
        SMALL / 1000, percentiles(before), percentiles(during));

    System.out.printf("other client: %d of %d complete before, %d of %d during%n",
        before.stream().filter(Timed::complete).count(), before.size(),
        during.stream().filter(Timed::complete).count(), during.size());
    assertThat(before).as("the other client's responses before the stall").allMatch(Timed::complete);
    assertThat(during).as("the other client's responses while %d readers stall: complete, each within %s",
        STALLED, GENEROUS).allMatch(t -> t.complete() && t.nanos() < GENEROUS.toNanos());
    assertThat(after).as("waypoint RSS (KiB) back within 20 MiB of its baseline %d KiB", baseline)
        .isLessThanOrEqualTo(baseline + RSS_SLACK_KIB);
    List<String> cut = waypoint.accessLog().stream()
        .filter(l -> l.contains("\"path\":\"/bytes/" + SMALL + "\"") && !l.contains("\"response_flags\":\"-\""))
        .toList();
    assertThat(cut).as("the other client's requests in the access log, none cut or flagged").isEmpty();
  }

  private void diagnose(String when) throws Exception {
    if (Boolean.getBoolean("it.waypoint.diagnose")) {
      System.out.println("=== " + when + " rss " + waypoint.rssKib() / 1024 + " MiB\n"
          + waypoint.jcmd("VM.native_memory", "summary") + waypoint.jcmd("GC.heap_info")
          + new String(new ProcessBuilder("sh", "-c", "pmap -x " + waypoint.pid() + " | sort -k3 -n | tail -12")
              .redirectErrorStream(true).start().getInputStream().readAllBytes()));
    }
  }

  private int backendRequests() {
    return backends.stream().mapToInt(b -> b.requests.get()).sum();
  }

  /** One GET of {@code size} bytes on a new connection, read to the end and checked; fails the test on error. */
  private static BulkHttpBackend.Read fetch(InetSocketAddress socks, long size) throws IOException {
    try (Socket s = Socks5Client.connect(socks, PAYMENT, 80, Mesh.TIMEOUT)) {
      s.setSoTimeout((int) Mesh.TIMEOUT.toMillis());
      s.getOutputStream().write(BulkHttpBackend.request(PAYMENT, "/bytes/" + size));
      s.getOutputStream().flush();
      return BulkHttpBackend.readResponse(s.getInputStream());
    }
  }

  /** One timed fetch: how long it took and what arrived (or the error). */
  private record Timed(long nanos, boolean complete, String outcome) {}

  /** {@code n} fetches of {@link #SMALL} bytes, one after the other, each on a new connection. */
  private static List<Timed> timedFetches(InetSocketAddress socks, int n) {
    List<Timed> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      long start = System.nanoTime();
      try {
        BulkHttpBackend.Read r = fetch(socks, SMALL);
        out.add(new Timed(System.nanoTime() - start, r.complete(), r.toString()));
      } catch (IOException e) {
        out.add(new Timed(System.nanoTime() - start, false, e.toString()));
      }
    }
    return out;
  }

  private static String percentiles(List<Timed> fetches) {
    List<Long> sorted = new ArrayList<>(fetches.stream().map(Timed::nanos).toList());
    Collections.sort(sorted);
    return String.format("%.1f/%.1f/%.1f", sorted.get(sorted.size() / 2) / 1e6,
        sorted.get((int) Math.ceil(sorted.size() * 0.99) - 1) / 1e6, sorted.get(sorted.size() - 1) / 1e6);
  }

  /** RSS once it has stopped falling (three samples a second apart within 1 MiB). */
  private long settledRss() throws Exception {
    long last = waypoint.rssKib();
    for (int stable = 0, i = 0; stable < 3 && i < 30; i++) {
      TimeUnit.SECONDS.sleep(1);
      long now = waypoint.rssKib();
      stable = Math.abs(now - last) < 1024 ? stable + 1 : 0;
      last = now;
    }
    return last;
  }

  /** Polls RSS until it is at most {@code limitKib} or {@code timeout} passes; returns the last sample. */
  private long awaitRss(long limitKib, Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    long now = waypoint.rssKib();
    while (now > limitKib && System.nanoTime() < deadline) {
      TimeUnit.MILLISECONDS.sleep(500);
      now = waypoint.rssKib();
    }
    return now;
  }
}
