package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.ProxyConfigSources;
import dev.ambientj.config.SnapshotListener;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.ca.CaClient;
import dev.ambientj.config.ca.CaClientException;
import dev.ambientj.config.ca.ControlPlaneTls;
import dev.ambientj.config.ca.CsrFactory;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.server.ServerLimits;
import dev.ambientj.config.xds.ProxyNode;
import dev.ambientj.config.xds.XdsConfigSource;
import dev.ambientj.hbone.identity.CertificateManager;
import dev.ambientj.hbone.transport.Transport;
import dev.ambientj.ztunnel.ListenerBinder;
import dev.ambientj.ztunnel.Ztunnel;
import io.grpc.Status;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.ssl.SslContext;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The config server under a connection flood, as issue 15 found it: {@code mesh config-server} runs
 * as its own process with 20,000 descriptors (the limit, set with {@code prlimit}), a
 * ztunnel takes its configuration over xDS and its certificates from the server's CA, and hostile
 * processes ({@link IdleConnectionFlood}, 10,000 connections each, so that no process needs more
 * descriptors than the machine allows) open 20,000 connections to the plaintext xDS port from 100
 * source addresses and keep them idle. The server's deadlines are shortened by flags so the test
 * stays short.
 *
 * <pre>
 *  IdleConnectionFlood ×2 (20,000 idle) ──▶ config-server :xDS/CA ◀── ztunnel node-a (xDS, CA)
 *     127.86.0.1-100                            (nofile 20,000)   ◀── a fresh CA client
 * </pre>
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ConfigServerFloodTest {
  private static final String P = "127.85";
  private static final String SERVER_HOST = P + ".200.1";
  private static final int SERVER_FD_LIMIT = 20_000;
  private static final int FLOOD = 20_000;
  private static final int ATTACKER_ADDRESSES = 100;
  private static final Duration BOUND = Duration.ofSeconds(60);
  /** The deadlines the server is started with (short, for the test's wall time). */
  private static final List<String> DEADLINE_FLAGS =
      List.of("--handshake-timeout", "3s", "--idle-timeout", "3s");

  private static final Pattern LISTENING =
      Pattern.compile("listening on:\\s+(\\S+):(\\d+) \\((plaintext|TLS)");
  private static final Pattern OPENED = Pattern.compile("opened=(\\d+)");
  private static final Pattern CLOSED = Pattern.compile(" closed=(\\d+)");
  private static final Pattern FAILED = Pattern.compile("failed=(\\d+)");
  private static final Pattern CLOSED_LATER = Pattern.compile("closedLater=(\\d+)");
  /** Connections per flooding process: within a 20,000-descriptor limit. */
  private static final int PER_PROCESS = 10_000;

  private Path dir;
  private Path file;
  private Path stateDir;
  private Path serverLog;
  private String yaml;
  private Process server;
  private InetSocketAddress plaintext;
  private final Transport transport = Transport.select(Transport.Kind.parse("auto"));
  private EventLoopGroup group;
  private final List<AutoCloseable> closeables = new ArrayList<>();
  private final SnapshotPublisher configA = new SnapshotPublisher();

  @BeforeAll
  void start() throws Exception {
    dir = Files.createTempDirectory("ambientj-flood");
    file = dir.resolve("mesh.yaml");
    stateDir = dir.resolve("state");
    serverLog = dir.resolve("config-server.log");
    yaml = TestMeshes.example(P);
    Files.writeString(file, yaml);
    List<String> cmd = new ArrayList<>(List.of("prlimit",
        "--nofile=" + SERVER_FD_LIMIT + ":" + SERVER_FD_LIMIT, "--"));
    cmd.addAll(java("dev.ambientj.config.server.ConfigServerCommand"));
    cmd.addAll(List.of("--config", file.toString(), "--state-dir", stateDir.toString(),
        "--listen", SERVER_HOST + ":0", "--listen-tls", SERVER_HOST + ":0"));
    cmd.addAll(DEADLINE_FLAGS);
    server = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(serverLog.toFile()).start();
    eventually("the config server prints its addresses", () -> listening().size() == 2);
    plaintext = listening().get(0);

    group = transport.newEventLoopGroup(2, "it-flood");
    CaClient ca = own(CaClient.builder(hostPort(plaintext)).tokenFile(tokenFile("node-a")).build());
    CertificateManager certs = own(CertificateManager.create(CaSource.of(ca, Duration.ofHours(1))));
    own(ProxyConfigSources.start(new ProxyConfigSources.Options(List.of(), plaintext, "ztunnel",
        "ztunnel-node-a", "istio-system", "node-a", Files.readString(tokenFile("node-a")).strip(),
        dir.resolve("xds-cache.pb")), configA, BOUND));
    Ztunnel z = own(Ztunnel.builder().node("node-a").config(configA).identityProvider(certs)
        .transport(transport).eventLoopGroup(group).binder(ListenerBinder.hostMode())
        .build().start());
    assertThat(z.awaitReady(BOUND)).as("ztunnel on node-a ready").isTrue();
  }

  @AfterAll
  void stop() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      try {
        closeables.get(i).close();
      } catch (Exception e) {
        // keep closing the rest
      }
    }
    if (server != null) {
      server.destroy();
      if (!server.waitFor(10, TimeUnit.SECONDS)) {
        server.destroyForcibly();
      }
      // What the server said about connections, for the test report.
      try (Stream<String> lines = Files.lines(serverLog)) {
        lines.filter(l -> l.contains("Connection") || l.contains("connections")
                || l.contains("refused")
                || l.contains("WARN") || l.contains("ERROR") || l.contains("limits:"))
            .limit(200).forEach(l -> System.out.println("SERVER " + l));
      }
    }
    if (group != null) {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
    if (dir != null) {
      try (Stream<Path> files = Files.walk(dir)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      }
    }
  }

  @Test
  @Order(1)
  void twentyThousandIdleConnectionsLeaveTheServerServingTheProxyAndTheCa() throws Exception {
    int baseline = serverFds();
    FdSampler fds = new FdSampler();
    Flood flood = flood(FLOOD, "raw");
    try {
      eventually("the flood has made all its connections",
          () -> flood.opened() + flood.failed() >= FLOOD || flood.finished());

      // A certificate, on a connection opened during the flood. A CA client's call fails at
      // once when its connection is lost (ztunnel's certificate manager then retries): so do
      // we, and report how many calls it took.
      long t0 = System.nanoTime();
      String caOutcome = "";
      int caCalls = 0;
      String id = "spiffe://cluster.local/ns/production/sa/api-gateway";
      while (!caOutcome.equals("issued") && System.nanoTime() - t0 < BOUND.toNanos() / 2) {
        caCalls++;
        try (CaClient fresh = CaClient.builder(hostPort(plaintext))
            .tokenFile(tokenFile("node-a")).timeout(Duration.ofSeconds(20)).build()) {
          List<String> chain = fresh.fetchCertificate(CsrFactory.create(id).csrPem(),
                  Duration.ofHours(1), id)
              .handle((c, e) -> e == null ? c : List.<String>of(e.toString()))
              .get(30, TimeUnit.SECONDS);
          caOutcome = chain.size() > 1 ? "issued" : chain.getFirst();
        }
      }
      long caMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);

      // A config change, pushed to the ztunnel's live xDS stream during the flood.
      String witness = "flood-witness-0";
      yaml = yaml + TestMeshes.pod(witness, "witness", "node-a", P + ".1.77", 8080);
      Files.writeString(file, yaml);
      boolean configured = awaitQuietly(() -> configA.snapshot().workloads().stream()
          .anyMatch(w -> w.name().equals(witness)));

      flood.awaitDone(BOUND);
      fds.stop();
      System.out.printf("FIGURES raw flood of %d: %s; server fds baseline %d, max %d (limit %d);"
              + " CA during flood: %s after %d ms and %d call(s); config change reached ztunnel: %s;"
              + " server log lines with 'Too many open files': %d%n",
          FLOOD, flood.last(), baseline, fds.max(), SERVER_FD_LIMIT, caOutcome, caMillis,
          caCalls, configured, logLines("Too many open files"));

      assertThat(caOutcome).as("a certificate issued during the flood").isEqualTo("issued");
      assertThat(configured).as("the ztunnel received the config change during the flood").isTrue();
      assertThat(fds.max()).as("the server's descriptors stay below its limit, with the"
          + " reserve for its own work free").isLessThan(
              SERVER_FD_LIMIT - (int) ServerLimits.descriptorReserve(SERVER_FD_LIMIT));
      assertThat(flood.opened() + flood.failed()).isEqualTo(FLOOD);
      assertThat(flood.closed()).as("every idle connection was closed by the server (deadline or"
          + " cap): %s", flood.last()).isEqualTo(flood.opened());
    } finally {
      flood.close();
      fds.stop();
    }
    eventually("the server's descriptors return to their baseline",
        () -> serverFds() <= baseline + 20);
  }

  @Test
  @Order(2)
  void connectionsThatFinishTheHandshakeAndIdleAreClosedAtTheIdleDeadline() throws Exception {
    int count = 2_000;
    Flood flood = flood(count, "h2");
    try {
      flood.awaitDone(BOUND);
      System.out.printf("FIGURES h2-preface flood of %d: %s%n", count, flood.last());
      assertThat(flood.closed()).as("closed by the server: %s", flood.last())
          .isEqualTo(flood.opened());
      assertThat(flood.closedLater()).as("held to the idle deadline, not refused at once: %s",
          flood.last()).isPositive();
    } finally {
      flood.close();
    }
  }

  @Test
  @Order(3)
  void anInvalidTokenIsRefusedOnBothPortsForXdsAndTheCaAndLogged() throws Exception {
    List<java.security.cert.X509Certificate> roots = ControlPlaneTls.parseCertificates(
        Files.readString(stateDir.resolve("roots.pem")));
    InetSocketAddress tls = listening().get(1);
    String id = "spiffe://cluster.local/ns/production/sa/api-gateway";
    for (InetSocketAddress port : List.of(plaintext, tls)) {
      SslContext context = port == tls ? ControlPlaneTls.client(roots, null, null) : null;
      // xDS as a proxy with a wrong token file runs it: refused, nothing served.
      SnapshotPublisher config = new SnapshotPublisher();
      List<String> errors = new CopyOnWriteArrayList<>();
      config.subscribe(new SnapshotListener() {
        @Override
        public void onSnapshot(MeshSnapshot snapshot) {}

        @Override
        public void onTransientError(String message) {
          errors.add(message);
        }
      });
      XdsConfigSource.Builder xds = XdsConfigSource.builder(port,
          ProxyNode.node("ztunnel", P + ".100.1", "ztunnel-a", "istio-system", "node-a"), config)
          .bearerToken("not-a-token");
      if (context != null) {
        xds.tls(context);
      }
      try (XdsConfigSource ignored = xds.start()) {
        eventually("the xDS stream on " + port + " is refused",
            () -> errors.stream().anyMatch(e -> e.contains("UNAUTHENTICATED")));
        assertThat(config.snapshot().workloads()).as("nothing served on %s", port).isEmpty();
      }
      CaClient.Builder ca = CaClient.builder(hostPort(port)).token(() -> "not-a-token")
          .timeout(Duration.ofSeconds(20));
      if (context != null) {
        ca.tls(context);
      }
      try (CaClient client = ca.build()) {
        Throwable refused = client.fetchCertificate(CsrFactory.create(id).csrPem(),
            Duration.ofHours(1), id).handle((c, e) -> e).get(30, TimeUnit.SECONDS);
        assertThat(refused).as("CA on %s", port).isInstanceOf(CaClientException.class);
        assertThat(((CaClientException) refused).status().getCode())
            .isEqualTo(Status.Code.UNAUTHENTICATED);
      }
    }
    eventually("the server logs the refusals with the caller's address and the reason",
        () -> logLinesQuietly("refused envoy.service.discovery.v3.AggregatedDiscoveryService/"
            + "DeltaAggregatedResources from 127.0.0.1:") >= 2
            && logLinesQuietly("refused istio.v1.auth.IstioCertificateService/CreateCertificate"
            + " from 127.0.0.1:") >= 2
            && logLinesQuietly("UNAUTHENTICATED: the bearer token is not a known node token") >= 4);
  }

  // ---- harness ----

  private long logLinesQuietly(String containing) {
    try {
      return logLines(containing);
    } catch (IOException e) {
      return 0;
    }
  }

  /**
   * The hostile processes: {@code count} idle connections from 100 source addresses, at most
   * {@value #PER_PROCESS} per process so that each stays within this machine's descriptor limit
   * (raising it needs CAP_SYS_RESOURCE, which a container may not have).
   */
  private Flood flood(int count, String mode) throws IOException {
    List<Process> processes = new ArrayList<>();
    int processCount = (count + PER_PROCESS - 1) / PER_PROCESS;
    for (int p = 0; p < processCount; p++) {
      int share = Math.min(PER_PROCESS, count - p * PER_PROCESS);
      List<String> cmd = new ArrayList<>(java(IdleConnectionFlood.class.getName()));
      cmd.addAll(List.of(SERVER_HOST, Integer.toString(plaintext.getPort()),
          Integer.toString(share), mode, Long.toString(BOUND.toSeconds())));
      for (int i = p; i < ATTACKER_ADDRESSES; i += processCount) {
        cmd.add("127.86." + (i / 250) + "." + (i % 250 + 1));
      }
      processes.add(new ProcessBuilder(cmd).redirectErrorStream(true).start());
    }
    return new Flood(processes);
  }

  /** The flooding processes and what each last reported. */
  private static final class Flood implements AutoCloseable {
    final List<Process> processes;
    final List<String> lines = new CopyOnWriteArrayList<>();
    final String[] last;
    final boolean[] done;

    Flood(List<Process> processes) {
      this.processes = processes;
      this.last = new String[processes.size()];
      this.done = new boolean[processes.size()];
      for (int i = 0; i < processes.size(); i++) {
        int index = i;
        last[i] = "";
        Process process = processes.get(i);
        Thread.ofPlatform().daemon().name("flood-output-" + i).start(() -> {
          try (BufferedReader r = new BufferedReader(
              new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
              lines.add(line);
              synchronized (this) {
                if (line.startsWith("flood ")) {
                  last[index] = line;
                }
                if (line.startsWith("flood done")) {
                  done[index] = true;
                }
              }
            }
          } catch (IOException e) {
            // the process ended
          }
        });
      }
    }

    /** A field of the processes' last lines, summed. */
    private synchronized int sum(Pattern field) {
      int total = 0;
      for (String l : last) {
        Matcher m = field.matcher(l);
        if (m.find()) {
          total += Integer.parseInt(m.group(1));
        }
      }
      return total;
    }

    int opened() {
      return sum(OPENED);
    }

    int closed() {
      return sum(CLOSED);
    }

    int failed() {
      return sum(FAILED);
    }

    int closedLater() {
      return sum(CLOSED_LATER);
    }

    synchronized boolean finished() {
      for (int i = 0; i < done.length; i++) {
        if (!done[i] && processes.get(i).isAlive()) {
          return false;
        }
      }
      return true;
    }

    synchronized String last() {
      return String.join(" | ", last);
    }

    synchronized boolean allDone() {
      for (boolean d : done) {
        if (!d) {
          return false;
        }
      }
      return true;
    }

    void awaitDone(Duration bound) throws InterruptedException {
      long deadline = System.nanoTime() + bound.plusSeconds(30).toNanos();
      while (!allDone() && System.nanoTime() < deadline) {
        Thread.sleep(100);
      }
      assertThat(allDone()).as("the flood processes ended; their output: %s", lines).isTrue();
    }

    @Override
    public void close() throws InterruptedException {
      for (Process p : processes) {
        p.destroy();
      }
      for (Process p : processes) {
        if (!p.waitFor(10, TimeUnit.SECONDS)) {
          p.destroyForcibly();
        }
      }
    }
  }

  /** Samples the server's open descriptors every 50 ms, keeping the maximum. */
  private final class FdSampler {
    final AtomicInteger max = new AtomicInteger();
    volatile boolean running = true;
    final Thread thread = Thread.ofPlatform().daemon().name("fd-sampler").start(() -> {
      while (running) {
        max.accumulateAndGet(serverFds(), Math::max);
        try {
          Thread.sleep(50);
        } catch (InterruptedException e) {
          return;
        }
      }
    });

    int max() {
      return max.get();
    }

    void stop() throws InterruptedException {
      running = false;
      thread.join();
    }
  }

  private int serverFds() {
    try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(server.pid()), "fd"))) {
      return (int) fds.count();
    } catch (IOException | java.io.UncheckedIOException e) {
      return -1;
    }
  }

  private long logLines(String containing) throws IOException {
    try (Stream<String> lines = Files.lines(serverLog)) {
      return lines.filter(l -> l.contains(containing)).count();
    }
  }

  /** The addresses the server printed: plaintext first, then TLS. */
  private List<InetSocketAddress> listening() {
    List<InetSocketAddress> out = new ArrayList<>();
    try {
      for (String line : Files.readAllLines(serverLog)) {
        Matcher m = LISTENING.matcher(line);
        if (m.find()) {
          out.add(new InetSocketAddress(m.group(1), Integer.parseInt(m.group(2))));
        }
      }
    } catch (IOException e) {
      return List.of();
    }
    return out;
  }

  /** {@code java -cp <this JVM's class path> MAIN}, with the same JDK. */
  private static List<String> java(String main) {
    String javaBin = ProcessHandle.current().info().command().orElse("java");
    return List.of(javaBin, "-Xmx512m", "-cp", System.getProperty("java.class.path"), main);
  }

  private Path tokenFile(String node) {
    return stateDir.resolve("node-tokens").resolve(node + ".token");
  }

  private <T extends AutoCloseable> T own(T c) {
    closeables.add(c);
    return c;
  }

  private static String hostPort(InetSocketAddress a) {
    return a.getAddress().getHostAddress() + ":" + a.getPort();
  }

  private static boolean awaitQuietly(BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + BOUND.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        return false;
      }
      Thread.sleep(50);
    }
    return true;
  }

  private void eventually(String what, BooleanSupplier condition) throws Exception {
    long deadline = System.nanoTime() + BOUND.toNanos();
    while (!condition.getAsBoolean()) {
      if (server != null && !server.isAlive()) {
        throw new AssertionError("the config server exited (" + server.exitValue() + "): "
            + Files.readString(serverLog));
      }
      assertThat(System.nanoTime()).as("eventually: " + what).isLessThan(deadline);
      Thread.sleep(50);
    }
  }
}
