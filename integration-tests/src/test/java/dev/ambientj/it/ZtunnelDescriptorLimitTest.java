package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.hbone.transport.Transport;
import dev.ambientj.launcher.demo.Socks5Client;
import io.netty.channel.EventLoopGroup;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * ztunnel as a process with few descriptors ({@code prlimit --nofile=1024}), as `./mesh ztunnel`
 * runs it (the launcher's main, this build's classes), flooded with connections it must hold:
 *
 * <ul>
 *   <li>with the caps it derives from that limit, the flood is refused at the caps and never
 *       reaches the limit: readiness and metrics answer throughout, another workload's traffic
 *       goes through, nothing fails to accept;
 *   <li>with caps raised past the limit (an operator's mistake), accepts fail with EMFILE: the
 *       listeners pause instead of spinning, the log has one line when it starts and one when it
 *       ends, and when the flood lets go ztunnel recovers by itself and serves again.
 * </ul>
 *
 * <p>The example mesh on 127.214.x, node-a only, inventory-0 added; the bystander's traffic goes
 * to a TCP echo outside the mesh (passthrough) that this test runs.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ZtunnelDescriptorLimitTest {
  private static final String P = "127.214";
  private static final int FD_LIMIT = 1024;
  private static final int FLOOD = 1_200;
  private static final InetSocketAddress ECHO = new InetSocketAddress(P + ".200.1", 7000);
  private static final InetSocketAddress ATTACKED = new InetSocketAddress(P + ".1.10", 15080);
  private static final InetSocketAddress BYSTANDER = new InetSocketAddress(P + ".1.20", 15080);
  private static final Duration STARTUP = Duration.ofSeconds(120);

  @TempDir
  static Path dir;
  private final Transport transport = Transport.select(Transport.Kind.AUTO);
  private final EventLoopGroup group = transport.newEventLoopGroup(1, "it-fd-limit");
  private TcpEchoServer echo;
  private Path config;

  @BeforeAll
  void start() throws Exception {
    echo = TcpEchoServer.start(group, transport, ECHO);
    config = Files.writeString(dir.resolve("mesh.yaml"), TestMeshes.example(P)
        + TestMeshes.podWithService("inventory-0", "inventory", "node-a", P + ".1.20", 8080,
            P + ".10.60", 80));
  }

  @AfterAll
  void stop() throws Exception {
    if (echo != null) {
      echo.close();
    }
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  @Test
  void withDerivedCapsAFloodIsRefusedAndEverythingElseKeepsAnswering() throws Exception {
    try (ZtunnelProcess zt = ZtunnelProcess.start(dir.resolve("derived"), config,
        "--socks5-handshake-timeout", "120s")) {
      assertThat(echoThrough(BYSTANDER, "warm")).isTrue();
      AtomicBoolean flooding = new AtomicBoolean(true);
      ExecutorService pool = Executors.newFixedThreadPool(3);
      List<Socket> held = new ArrayList<>();
      int peakFds;
      try {
        Future<int[]> ready = pool.submit(() -> SocksListenerExhaustionTest.repeatWhile(flooding,
            () -> zt.get(zt.readiness(), "/healthz/ready") == 200));
        Future<int[]> metrics = pool.submit(() -> SocksListenerExhaustionTest.repeatWhile(flooding,
            () -> zt.get(zt.metrics(), "/metrics") == 200));
        AtomicInteger n = new AtomicInteger();
        Future<int[]> bystander = pool.submit(() -> SocksListenerExhaustionTest.repeatWhile(
            flooding, () -> echoThrough(BYSTANDER, "during-" + n.incrementAndGet())));
        held.addAll(holdRelays(ATTACKED, FLOOD)); // until the listener's connection cap
        held.addAll(hold(ATTACKED, FLOOD)); // each reset at once, past the caps
        peakFds = zt.openFiles();
        TimeUnit.SECONDS.sleep(2); // let the probes run against the saturated listener
        flooding.set(false);
        int[] r = ready.get(1, TimeUnit.MINUTES);
        int[] m = metrics.get(1, TimeUnit.MINUTES);
        int[] b = bystander.get(1, TimeUnit.MINUTES);
        System.out.printf("derived caps, nofile %d: %d connections opened, ztunnel fds %d;"
                + " readiness ok %d failed %d; metrics ok %d failed %d; bystander ok %d failed %d%n",
            FD_LIMIT, held.size(), peakFds, r[0], r[1], m[0], m[1], b[0], b[1]);
        assertThat(r[1]).as("readiness probes that failed").isZero();
        assertThat(m[1]).as("metrics scrapes that failed").isZero();
        assertThat(b[1]).as("bystander connections that failed").isZero();
        assertThat(r[0]).isPositive();
        assertThat(b[0]).isPositive();
      } finally {
        flooding.set(false);
        pool.shutdownNow();
        for (Socket s : held) {
          s.close();
        }
      }
      assertThat(peakFds).as("ztunnel's descriptors at the peak of the flood")
          .isLessThan(FD_LIMIT - 256);
      String scrape = zt.body(zt.metrics(), "/metrics");
      assertThat(scrape).containsPattern("ambientj_connections_refused_total\\{limit=\"connections\","
          + "listener=\"socks5\",scope=\"listener\",workload=\"api-gateway-0\",[^}]*} [1-9]");
      assertThat(scrape).contains("ambientj_accept_failures_total{error=\"emfile\"} 0.0");
      assertThat(zt.log()).doesNotContain("accept failed").doesNotContain("Too many open files");
      awaitTrue(() -> echoThrough(ATTACKED, "after"), "the attacked listener serves again");
    }
  }

  @Test
  void withCapsPastTheLimitAcceptsBackOffAndRecoverByThemselves() throws Exception {
    try (ZtunnelProcess zt = ZtunnelProcess.start(dir.resolve("raised"), config,
        "--socks5-handshake-timeout", "120s", "--max-connections", "100000",
        "--max-handshakes", "100000", "--max-listener-connections", "100000",
        "--max-listener-handshakes", "100000")) {
      assertThat(echoThrough(ATTACKED, "warm")).isTrue();
      List<Socket> held = hold(ATTACKED, FLOOD);
      try {
        awaitTrue(() -> zt.log().contains("accept failed"), "accepts failing");
        TimeUnit.SECONDS.sleep(5); // at the limit a while: Netty's default logged once a second
      } finally {
        for (Socket s : held) {
          s.close();
        }
      }
      long released = System.nanoTime();
      awaitTrue(() -> zt.get(zt.readiness(), "/healthz/ready") == 200, "readiness answers again");
      awaitTrue(() -> echoThrough(ATTACKED, "recovered"), "the flooded listener serves again");
      double recoverySeconds = (System.nanoTime() - released) / 1e9;
      awaitTrue(() -> zt.log().contains("accepting again"), "the episode's closing line");
      String log = zt.log();
      long started = log.lines().filter(l -> l.contains("accept failed")).count();
      long ended = log.lines().filter(l -> l.contains("accepting again")).count();
      System.out.printf("caps past the limit, nofile %d, %d held: recovered %.1f s after release;"
              + " log lines: %d 'accept failed', %d 'accepting again', %d 'Too many open files'"
              + "%n%s%n", FD_LIMIT, held.size(), recoverySeconds, started, ended,
          log.lines().filter(l -> l.contains("Too many open files")).count(),
          log.lines().filter(l -> l.contains("accept")).reduce("", (a, l) -> a + l + "\n"));
      assertThat(started).as("lines when the episode began").isEqualTo(1);
      assertThat(ended).as("lines when it ended").isEqualTo(1);
      assertThat(log).doesNotContain("reached at the tail of the pipeline");
      assertThat(zt.body(zt.metrics(), "/metrics"))
          .containsPattern("ambientj_accept_failures_total\\{error=\"emfile\"} [1-9]");
      assertThat(echoThrough(BYSTANDER, "bystander after")).isTrue();
    }
  }

  /** Makes {@code n} connection attempts to {@code target}, sends nothing; returns those open. */
  private static List<Socket> hold(InetSocketAddress target, int n) {
    List<Socket> held = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      Socket s = new Socket();
      try {
        s.connect(target, 2_000);
        held.add(s);
      } catch (IOException e) { // reset by the proxy before the connect returned
        closeQuietly(s);
      }
    }
    return held;
  }

  /** Opens up to {@code n} SOCKS5 relays to the echo and holds them; stops at the first refusal. */
  private static List<Socket> holdRelays(InetSocketAddress proxy, int n) {
    List<Socket> held = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      try {
        held.add(Socks5Client.connect(proxy, ECHO.getHostString(), ECHO.getPort(),
            Duration.ofSeconds(5)));
      } catch (IOException e) {
        break;
      }
    }
    return held;
  }

  private static boolean echoThrough(InetSocketAddress proxy, String text) throws IOException {
    try (Socket s = Socks5Client.connect(proxy, ECHO.getHostString(), ECHO.getPort(),
        Duration.ofSeconds(5))) {
      s.getOutputStream().write(text.getBytes());
      return new String(s.getInputStream().readNBytes(text.length())).equals(text);
    }
  }

  private static void awaitTrue(SocksListenerExhaustionTest.Check check, String what)
      throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (System.nanoTime() < deadline) {
      try {
        if (check.passes()) {
          return;
        }
      } catch (InterruptedException e) {
        throw e;
      } catch (Exception e) {
        // not yet
      }
      TimeUnit.MILLISECONDS.sleep(200);
    }
    throw new AssertionError("not within 60 s: " + what);
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException ignored) {
      // nothing to do
    }
  }

  /** `mesh ztunnel` for node-a in a child JVM under {@code prlimit --nofile=FD_LIMIT}. */
  static final class ZtunnelProcess implements AutoCloseable {
    private final Process process;
    private final Path log;

    private ZtunnelProcess(Process process, Path log) {
      this.process = process;
      this.log = log;
    }

    static ZtunnelProcess start(Path state, Path config, String... flags) throws Exception {
      Files.createDirectories(state);
      Path log = state.resolve("ztunnel.log");
      List<String> cmd = new ArrayList<>(List.of("prlimit", "--nofile=" + FD_LIMIT + ":" + FD_LIMIT,
          "--", Path.of(System.getProperty("java.home"), "bin", "java").toString(),
          "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-Xmx128m",
          "-cp", System.getProperty("java.class.path"), "dev.ambientj.launcher.Main",
          "ztunnel", "--config", config.toString(), "--node", "node-a",
          "--state-dir", state.toString()));
      cmd.addAll(List.of(flags));
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
          .redirectOutput(log.toFile()).start();
      ZtunnelProcess zt = new ZtunnelProcess(p, log);
      long deadline = System.nanoTime() + STARTUP.toNanos();
      while (System.nanoTime() < deadline && p.isAlive()) {
        try {
          if (zt.get(zt.readiness(), "/healthz/ready") == 200) {
            return zt;
          }
        } catch (IOException e) {
          // not listening yet
        }
        TimeUnit.MILLISECONDS.sleep(200);
      }
      zt.close();
      throw new AssertionError("ztunnel did not become ready; its log:\n" + zt.log());
    }

    InetSocketAddress readiness() {
      return new InetSocketAddress(P + ".100.1", 15021);
    }

    InetSocketAddress metrics() {
      return new InetSocketAddress(P + ".100.1", 15020);
    }

    int get(InetSocketAddress server, String path) throws IOException, InterruptedException {
      return request(server, path).statusCode();
    }

    String body(InetSocketAddress server, String path) throws IOException, InterruptedException {
      return request(server, path).body();
    }

    private static HttpResponse<String> request(InetSocketAddress server, String path)
        throws IOException, InterruptedException {
      try (HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build()) {
        return http.send(HttpRequest.newBuilder(URI.create("http://" + server.getHostString() + ":"
                + server.getPort() + path)).timeout(Duration.ofSeconds(2)).build(),
            HttpResponse.BodyHandlers.ofString());
      }
    }

    /** Descriptors the process has open now. */
    int openFiles() throws IOException {
      try (Stream<Path> fds = Files.list(Path.of("/proc/" + process.pid() + "/fd"))) {
        return (int) fds.count();
      }
    }

    String log() throws IOException {
      return Files.readString(log);
    }

    @Override
    public void close() throws Exception {
      process.destroy();
      if (!process.waitFor(20, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    }
  }
}
