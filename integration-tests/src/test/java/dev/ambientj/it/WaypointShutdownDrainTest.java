package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.launcher.demo.Socks5Client;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 16: a waypoint's SIGTERM drains. The waypoint is a real {@code ./mesh waypoint} process
 * with {@code TERMINATION_GRACE_PERIOD_SECONDS=11} (drain deadline 6 s); the clients reach it
 * through node-a's ztunnel (SOCKS5), the responses come from node-b's pods:
 *
 * <ul>
 *   <li>responses that end within the deadline (1.5 s long, started before the signal) arrive
 *       complete and are logged as complete {@code 200}s;
 *   <li>responses that cannot (60 s long) are cut at the deadline: the client sees them short (never
 *       a clean end), and the access log says {@code DT} for each, never a plain {@code 200};
 *   <li>keep-alive HTTP/1.1 connections: a request sent after the signal is answered completely,
 *       with {@code Connection: close}, and the connection then ends in order (EOF);
 *   <li>readiness answers 503 while the waypoint drains, and the process exits only after the drain.
 * </ul>
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class WaypointShutdownDrainTest {
  private static final String P = "127.154";
  private static final String PAYMENT = "payment-service.production.svc.cluster.local";
  private static final Duration DRAIN = Duration.ofSeconds(6);
  private static final int SHORT = 4;
  private static final int LONG = 4;
  private static final int KEEP_ALIVE = 3;
  private static final long BYTES = 200_000;

  @TempDir
  static Path dir;
  private Mesh mesh;
  private WaypointProcess waypoint;
  private final List<BulkHttpBackend> backends = new ArrayList<>();

  @BeforeAll
  void startMesh() throws Exception {
    mesh = WaypointProcess.twoNodeMesh(TestMeshes.example(P), dir);
    backends.add(BulkHttpBackend.start(mesh, "payment-v1-0", 8080));
    backends.add(BulkHttpBackend.start(mesh, "payment-v2-0", 8080));
    waypoint = mesh.own(WaypointProcess.start(dir.resolve("mesh.yaml"), dir, "production", "payment-waypoint",
        P + ".1.30", List.of(), Map.of("TERMINATION_GRACE_PERIOD_SECONDS", Long.toString(DRAIN.toSeconds() + 5))));
    WaypointProcess.awaitServing(mesh.workload("api-gateway-0").socks(), PAYMENT);
  }

  @AfterAll
  void stopMesh() throws Exception {
    if (mesh != null) {
      mesh.close();
    }
  }

  @Test
  void sigtermFinishesWhatFitsTheDeadlineAndFlagsWhatIsCut() throws Exception {
    try {
      drainUnderLoad();
    } catch (AssertionError | Exception e) {
      System.out.println("waypoint output:\n" + waypoint.output());
      throw e;
    }
  }

  private void drainUnderLoad() throws Exception {
    InetSocketAddress socks = mesh.workload("api-gateway-0").socks();
    assertThat(waypoint.readiness()).as("ready before the signal").isEqualTo(200);
    ExecutorService pool = Executors.newCachedThreadPool();
    try {
      // keep-alive connections, each with one response read
      List<Socket> keepAlive = new ArrayList<>();
      for (int i = 0; i < KEEP_ALIVE; i++) {
        Socket s = open(socks);
        keepAlive.add(s);
        send(s, "/bytes/1000");
        BulkHttpBackend.Read first = BulkHttpBackend.readResponse(s.getInputStream());
        assertThat(first.complete()).as("first response on keep-alive connection %d", i).isTrue();
        assertThat(first.head().toLowerCase(Locale.ROOT)).doesNotContain("connection: close");
      }
      int before = backendRequests();
      List<Future<String>> shortOnes = new ArrayList<>();
      List<Future<String>> longOnes = new ArrayList<>();
      for (int i = 0; i < LONG; i++) {
        longOnes.add(pool.submit(() -> fetch(socks, "/slow/" + BYTES + "/60000")));
      }
      for (int i = 0; i < SHORT; i++) {
        shortOnes.add(pool.submit(() -> fetch(socks, "/slow/" + BYTES + "/1500")));
      }
      awaitBackendRequests(before + SHORT + LONG);

      long signalled = System.nanoTime();
      waypoint.terminate();
      int readiness = awaitReadiness(503);
      assertThat(readiness).as("readiness while draining").isEqualTo(503);

      // requests sent on the keep-alive connections after the signal: answered, then the end
      List<Future<String>> afterSignal = new ArrayList<>();
      for (Socket s : keepAlive) {
        afterSignal.add(pool.submit(() -> {
          try (s) {
            send(s, "/slow/" + BYTES + "/1000");
            BulkHttpBackend.Read r = BulkHttpBackend.readResponse(s.getInputStream());
            boolean close = r.head().toLowerCase(Locale.ROOT).contains("connection: close");
            int next = s.getInputStream().read();
            return (r.complete() ? "complete" : "cut " + r) + (close ? " close" : " keep-alive")
                + (next < 0 ? " eof" : " more");
          }
        }));
      }
      for (Future<String> f : shortOnes) {
        assertThat(f.get(60, TimeUnit.SECONDS)).as("a response that fits the deadline").isEqualTo("complete");
      }
      for (Future<String> f : afterSignal) {
        assertThat(f.get(60, TimeUnit.SECONDS)).as("a keep-alive connection's request after the signal")
            .isEqualTo("complete close eof");
      }
      for (Future<String> f : longOnes) {
        assertThat(f.get(60, TimeUnit.SECONDS)).as("a response longer than the deadline").startsWith("cut");
      }
      int exit = waypoint.awaitExit(Duration.ofSeconds(60));
      long tookMillis = (System.nanoTime() - signalled) / 1_000_000;
      System.out.printf("waypoint exited %d ms after SIGTERM (drain deadline %d ms), exit code %d%n", tookMillis,
          DRAIN.toMillis(), exit);
      assertThat(exit).as("the process exited after SIGTERM").isNotEqualTo(-1);
      assertThat(tookMillis).as("the process stayed up for the drain").isGreaterThanOrEqualTo(DRAIN.toMillis());

      System.out.println("waypoint output, without the access log:\n" + String.join("\n",
          waypoint.output().lines().filter(l -> !l.contains("waypoint.access")).toList()));
      assertThat(waypoint.output()).as("a clean shutdown").doesNotContain("Exception");
      List<String> log = waypoint.accessLog();
      List<String> longLines = log.stream().filter(l -> l.contains("/slow/" + BYTES + "/60000")).toList();
      List<String> shortLines = log.stream().filter(l -> l.contains("/slow/" + BYTES + "/1500")
          || l.contains("/slow/" + BYTES + "/1000")).toList();
      System.out.println("access log of the cut responses:\n" + String.join("\n", longLines));
      assertThat(longLines).as("one line per cut response").hasSize(LONG);
      assertThat(longLines).as("cut responses are flagged DT, never logged as complete")
          .allMatch(l -> l.contains("\"response_flags\":\"DT\"") && l.contains("drain_deadline"));
      assertThat(shortLines).as("one line per complete response").hasSize(SHORT + KEEP_ALIVE);
      assertThat(shortLines).as("complete responses logged as complete 200s")
          .allMatch(l -> l.contains("\"response_code\":200") && l.contains("\"response_flags\":\"-\""));
      assertThat(waypoint.output()).contains("drain deadline 6.0 s (TERMINATION_GRACE_PERIOD_SECONDS=11)");
    } finally {
      pool.shutdownNow();
    }
  }

  private static Socket open(InetSocketAddress socks) throws IOException {
    Socket s = Socks5Client.connect(socks, PAYMENT, 80, Mesh.TIMEOUT);
    s.setSoTimeout(60_000);
    return s;
  }

  private static void send(Socket s, String path) throws IOException {
    s.getOutputStream().write(BulkHttpBackend.request(PAYMENT, path));
    s.getOutputStream().flush();
  }

  /** One GET on its own connection: {@code complete}, or {@code cut …} with what arrived. */
  private static String fetch(InetSocketAddress socks, String path) throws IOException {
    try (Socket s = open(socks)) {
      send(s, path);
      InputStream in = s.getInputStream();
      try {
        BulkHttpBackend.Read r = BulkHttpBackend.readResponse(in);
        return r.complete() ? "complete" : "cut: " + r.patternBytes() + " of " + r.contentLength() + " bytes, "
            + r.head().lines().findFirst().orElse("");
      } catch (IOException e) {
        return "cut: " + e;
      }
    }
  }

  private int backendRequests() {
    return backends.stream().mapToInt(b -> b.requests.get()).sum();
  }

  private void awaitBackendRequests(int n) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (backendRequests() < n && System.nanoTime() < deadline) {
      TimeUnit.MILLISECONDS.sleep(20);
    }
    assertThat(backendRequests()).as("the backends got every request").isGreaterThanOrEqualTo(n);
  }

  private int awaitReadiness(int status) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    int last = waypoint.readiness();
    while (last != status && System.nanoTime() < deadline) {
      TimeUnit.MILLISECONDS.sleep(50);
      last = waypoint.readiness();
    }
    return last;
  }
}
