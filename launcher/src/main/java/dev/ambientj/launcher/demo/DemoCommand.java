package dev.ambientj.launcher.demo;

import dev.ambientj.config.FileConfigSource;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.cli.MeshCommandLine;
import dev.ambientj.config.cli.MeshVersion;
import dev.ambientj.config.model.Endpoint;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Node;
import dev.ambientj.config.model.Service;
import dev.ambientj.config.model.ServicePort;
import dev.ambientj.config.model.Workload;
import dev.ambientj.hbone.identity.IdentityProvider;
import dev.ambientj.hbone.identity.LocalCertificateAuthority;
import dev.ambientj.hbone.transport.Transport;
import dev.ambientj.launcher.demo.HttpOverSocks.Response;
import dev.ambientj.waypoint.Waypoint;
import dev.ambientj.waypoint.telemetry.MetricsServer;
import dev.ambientj.ztunnel.Ztunnel;
import io.netty.channel.EventLoopGroup;
import io.netty.util.NetUtil;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Entry point of `./mesh demo`: the whole ambient L4 path on one machine.
 *
 * <p>Starts, from {@code examples/} ({@code mesh.yaml} and, when present,
 * {@code payment-policies.yaml}), a ztunnel per node (node-a, node-b) and every waypoint of the
 * mesh, all sharing one local CA, and an HTTP echo app for every service endpoint; then drives
 * traffic from api-gateway-0 (node-a) through its SOCKS5 port and checks every hop in the access
 * logs, metrics and config dump — L4 to orders and legacy-web, L7 through payment-waypoint to
 * payment-service (canary split, fault injection, local rate limit, authorization). Prints a table
 * and how to poke the mesh by hand; {@code --keep-running} keeps it up until Ctrl-C. Exit code 0
 * when every check passed, 1 naming the failed step otherwise, 2 on usage errors.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false,
    versionProvider = MeshVersion.class, usageHelpAutoWidth = true,
    description = {
        "Starts the example mesh (two ztunnel nodes and the payment waypoint on loopback, echo"
            + " apps), sends traffic from api-gateway-0 through SOCKS5 and prints what each hop saw:"
            + " identities, bytes, mTLS; and what the waypoint did: canary split, injected faults,"
            + " the local rate limit and an authorization denial."},
    footerHeading = "%n",
    footer = "Exit status: 0 every check passed, 1 a step failed (named), 2 usage error.")
public final class DemoCommand implements Callable<Integer> {
  private static final Duration TIMEOUT = Duration.ofSeconds(5);
  private static final String CLIENT = "api-gateway-0";
  private static final String PAYMENT = "payment-service.production.svc.cluster.local";
  /** Requests for the canary split: fewer than the example's rate limit (100 a minute) allows. */
  /**
   * The fault step sends up to {@link #FAULT_REQUESTS}, the split these: together no more than the
   * example's rate-limit bucket (100 a minute), so the split is never cut short by a 429 (with 40
   * and 80, a fault found only after 20 requests — 4 % of runs — emptied it during the split).
   */
  private static final int SPLIT_REQUESTS = 40;
  /** A fault (10 % delay, 5 % abort) is missing from all of them once in about 12,000 runs. */
  private static final int FAULT_REQUESTS = 60;

  @Option(names = "--keep-running", order = 1,
      description = "keep the mesh up until Ctrl-C (and print access-log lines live)")
  boolean keepRunning;

  @Option(names = "--examples", paramLabel = "DIR", order = 2,
      description = "where mesh.yaml and payment-policies.yaml are (default: ./examples)")
  Path examples = Path.of("examples");

  @Option(names = "--verbose", order = 3, description = "show the proxies' logs")
  boolean verbose;

  private DemoCommand() {}

  /** The command line of {@code mesh demo}. */
  public static CommandLine commandLine() {
    return MeshCommandLine.create(new DemoCommand(), "demo");
  }

  /** Runs the subcommand; returns the process exit code. */
  public static int run(String[] args) {
    return commandLine().execute(args);
  }

  @Override
  public Integer call() {
    if (!verbose && System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
      System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
    }
    Path meshYaml = examples.resolve("mesh.yaml");
    if (!Files.isRegularFile(meshYaml)) {
      System.err.println("mesh demo: " + meshYaml.toAbsolutePath()
          + " not found — run from the repository root or pass --examples DIR");
      return 2;
    }
    try {
      return new Demo(meshYaml, System.out).run(keepRunning);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return 1;
    } catch (Exception e) {
      System.err.println("mesh demo: failed to start the mesh: " + e);
      if (verbose) {
        e.printStackTrace();
      }
      return 1;
    }
  }

  /** One row of the result table. */
  record Row(boolean ok, String step, String answeredBy, String clientIdentity,
      String serverIdentity, String bytes, String mtls, String failure) {}

  private static final class Demo {
    private final Path meshYaml;
    private final PrintStream out;
    private final Map<String, DemoAccessLog> logs = new LinkedHashMap<>();
    private final Map<String, Ztunnel> ztunnels = new LinkedHashMap<>();
    private final Map<String, Waypoint> waypoints = new LinkedHashMap<>();
    private final Map<String, MetricsServer> waypointMetrics = new LinkedHashMap<>();
    private final List<AutoCloseable> apps = new ArrayList<>();
    private final List<Row> rows = new ArrayList<>();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private MeshSnapshot mesh;

    Demo(Path meshYaml, PrintStream out) {
      this.meshYaml = meshYaml;
      this.out = out;
    }

    /** Says on stderr which phase starts, and when since {@code start} (stdout keeps the results). */
    private static void phase(long start, String what) {
      System.err.printf("mesh demo: [%5.1f s] %s%n", (System.nanoTime() - start) / 1e9, what);
    }

    int run(boolean keepRunning) throws Exception {
      long start = System.nanoTime();
      List<Path> files = new ArrayList<>(List.of(meshYaml));
      Path policies = meshYaml.resolveSibling("payment-policies.yaml");
      if (Files.isRegularFile(policies)) {
        files.add(policies);
      }
      phase(start, "config: loading " + files);
      SnapshotPublisher publisher = new SnapshotPublisher();
      Transport transport = Transport.select(Transport.Kind.AUTO);
      EventLoopGroup group = transport.newEventLoopGroup(2, "demo");
      try (FileConfigSource source = FileConfigSource.start(files, publisher)) {
        mesh = publisher.snapshot();
        source.yamlErrors().forEach(e -> out.println("  note: " + e));
        for (var r : mesh.rejections()) {
          out.println("  note: rejected " + r);
        }
        phase(start, "CA: creating a local CA for trust domain " + mesh.trustDomain());
        LocalCertificateAuthority ca = LocalCertificateAuthority.create(mesh.trustDomain());
        IdentityProvider identities = ca.asIdentityProvider(Duration.ofHours(24));
        phase(start, "nodes: starting a ztunnel on each of " + mesh.nodes().stream().map(Node::name).toList());
        for (Node n : mesh.nodes()) {
          DemoAccessLog log = new DemoAccessLog(n.name());
          logs.put(n.name(), log);
          ztunnels.put(n.name(), Ztunnel.builder().node(n.name()).config(publisher)
              .identityProvider(identities).transport(transport).eventLoopGroup(group)
              .accessLog(log).build().start());
        }
        phase(start, "apps: starting an echo app on every service endpoint");
        startApps(group, transport);
        phase(start, "waypoint: starting " + mesh.waypoints().stream().map(w -> w.namespace() + "/" + w.name()).toList());
        for (dev.ambientj.config.model.Waypoint w : mesh.waypoints()) {
          if (w.addresses().isEmpty()) {
            out.println("  note: waypoint " + w.namespace() + "/" + w.name() + " has no pod address; not started");
            continue;
          }
          Waypoint wp = Waypoint.builder().name(w.name()).namespace(w.namespace()).config(publisher)
              .identityProvider(identities).transport(transport).eventLoopGroup(group).build().start();
          waypoints.put(w.name(), wp);
          waypointMetrics.put(w.name(), MetricsServer.start(new InetSocketAddress(w.addresses().get(0), 15020),
              group, transport.serverChannelClass(), wp.metrics()));
        }
        for (Ztunnel z : ztunnels.values()) {
          if (!z.awaitReady(Duration.ofSeconds(10))) {
            out.println("✗ ztunnel on " + z.node() + " did not become ready: "
                + "see http://" + hostPort(z.readinessAddress()) + "/healthz/ready");
            return 1;
          }
        }
        out.printf("Mesh up in %d ms: %d nodes, %d workloads (%d enrolled), %d services, %d waypoint(s); "
                + "one local CA for trust domain %s.%n%n",
            TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start), mesh.nodes().size(),
            mesh.workloads().size(), mesh.workloads().stream().filter(Workload::enrolled).count(),
            mesh.services().size(), waypoints.size(), mesh.trustDomain());

        phase(start, "traffic: requests from " + CLIENT + " through its SOCKS5 port");
        drive();
        printTable();
        boolean allOk = rows.stream().allMatch(Row::ok);
        printHints(keepRunning);
        if (!allOk) {
          rows.stream().filter(r -> !r.ok()).forEach(r ->
              out.println("✗ FAILED: " + r.step() + " — " + r.failure()));
        } else {
          out.println("✓ all " + rows.size() + " checks passed");
        }
        if (keepRunning) {
          logs.values().forEach(l -> l.echoTo(out));
          out.println();
          out.println("Mesh running; access-log lines follow. Ctrl-C to stop.");
          CountDownLatch stop = new CountDownLatch(1);
          Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stop.countDown();
            try {
              // Let the main thread close the listeners before the JVM halts.
              stopped.await(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
          }, "demo-stop"));
          stop.await();
          out.println("stopping the mesh ...");
        }
        return allOk ? 0 : 1;
      } finally {
        for (AutoCloseable a : apps) {
          a.close();
        }
        waypointMetrics.values().forEach(MetricsServer::close);
        waypoints.values().forEach(Waypoint::close);
        for (Ztunnel z : ztunnels.values()) {
          z.close();
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        stopped.countDown();
      }
    }

    /** An echo app on every service endpoint's pod IP and target port (the waypoint excluded). */
    private void startApps(EventLoopGroup group, Transport transport) throws InterruptedException {
      Set<InetSocketAddress> started = new HashSet<>();
      for (Service s : mesh.services()) {
        for (ServicePort p : s.ports()) {
          for (Endpoint e : s.endpoints()) {
            Optional<Workload> w = mesh.findWorkloadByUid(e.workloadUid());
            int port = e.targetPortFor(p);
            if (w.isEmpty() || w.get().addresses().isEmpty() || isProxyPort(port)
                || mesh.findWaypointByAddress(w.get().addresses().get(0)).isPresent()) {
              continue;
            }
            InetSocketAddress address = new InetSocketAddress(w.get().addresses().get(0), port);
            if (started.add(address)) {
              Ztunnel z = ztunnels.get(w.get().node());
              apps.add(EchoBackend.start(group, transport.serverChannelClass(), address,
                  w.get().name(), w.get().canonicalRevision(),
                  peer -> z == null ? Optional.empty() : z.findInboundPeerIdentity(peer)));
            }
          }
        }
      }
    }

    private static boolean isProxyPort(int port) {
      return port == 15001 || port == 15006 || port == 15008 || port == 15080;
    }

    private void drive() throws InterruptedException {
      Workload client = workload(CLIENT);
      Workload orders = workload("orders-0");
      InetAddress ordersVip = mesh.findServiceByHostname("orders", "production")
          .map(s -> s.vips().get(0)).orElse(null);
      http(client, "orders.production.svc.cluster.local", 80, orders, true);
      if (ordersVip != null) {
        http(client, ordersVip.getHostAddress(), 80, orders, true);
      }
      http(client, "orders", 80, orders, true);
      http(client, "legacy-web.legacy.svc.cluster.local", 80, workload("legacy-web-0"), false);
      checkMetrics(orders.node(), client, orders);
      checkConfigDump(client);
      if (waypoints.containsKey("payment-waypoint")
          && mesh.findServiceByHostname("payment-service", "production").isPresent()) {
        Waypoint wp = waypoints.get("payment-waypoint");
        // Fault first and the split next: both spend tokens of the example's 100-a-minute bucket,
        // which the rate-limit step then empties.
        fault(client, wp);
        split(client, wp);
        rateLimit(client, wp);
        denied(workload("orders-0"), wp);
      }
    }

    private InetSocketAddress socks(Workload w) {
      return new InetSocketAddress(w.addresses().get(0), 15080);
    }

    private String l7Step(Workload client, String what) {
      return client.name() + " (" + client.node() + ") → payment-service:80 via waypoint: " + what;
    }

    /** The identity the waypoint proved to the client's ztunnel (its outbound access-log line). */
    private String waypointIdentitySeen(Workload client, int logFrom) throws InterruptedException {
      return logs.get(client.node()).await(logFrom, l -> "outbound".equals(DemoAccessLog.field(l, "direction"))
              && DemoAccessLog.field(l, "dst.hbone_addr") != null
              && DemoAccessLog.field(l, "dst.workload") != null
              && DemoAccessLog.field(l, "dst.workload").startsWith("payment-waypoint"), 3000)
          .map(l -> DemoAccessLog.field(l, "dst.identity")).orElse("-");
    }

    /** Whether the waypoint's metrics carry {@code client} as the source principal. */
    private static boolean waypointSawClient(Waypoint wp, Workload client) {
      return wp.metrics().scrape().lines().anyMatch(l -> l.startsWith("istio_requests_total{")
          && l.contains("source_principal=\"" + client.spiffeId() + "\""));
    }

    /** x-fault-test: true until the first injected abort or delay (15 % of requests; bounded). */
    private void fault(Workload client, Waypoint wp) throws InterruptedException {
      String step = l7Step(client, "x-fault-test: true");
      int logFrom = logs.get(client.node()).size();
      String outcome = null;
      int sent = 0;
      try (HttpOverSocks http = HttpOverSocks.open(socks(client), PAYMENT, 80, TIMEOUT)) {
        while (outcome == null && sent < FAULT_REQUESTS && http.isOpen()) {
          Response r = http.get("/checkout", Map.of("x-fault-test", "true"));
          sent++;
          long ms = TimeUnit.NANOSECONDS.toMillis(r.nanos());
          if (r.status() == 503) {
            outcome = "503 abort" + (ms >= 500 ? " after a " + ms + " ms delay" : "") + " (request " + sent + ")";
          } else if (ms >= 500) {
            outcome = r.status() + " delayed " + ms + " ms (request " + sent + ")";
          } else if (r.status() != 200) {
            outcome = "unexpected " + r.status();
          }
        }
      } catch (Exception e) {
        rows.add(new Row(false, step, "-", "-", "-", "-", "-", "request failed: " + e.getMessage()));
        return;
      }
      String serverId = waypointIdentitySeen(client, logFrom);
      boolean ok = outcome != null && !outcome.startsWith("unexpected");
      rows.add(new Row(ok, step, outcome == null ? "no fault in " + sent + " requests" : outcome,
          client.spiffeId(), serverId, "-", "yes",
          ok ? "" : outcome == null ? "no abort or delay in " + sent + " requests (expected 5 % / 10 %)" : outcome));
    }

    /** The 95/5 canary split over a keep-alive connection. */
    private void split(Workload client, Waypoint wp) throws InterruptedException {
      String step = l7Step(client, SPLIT_REQUESTS + " requests, canary 95/5");
      int logFrom = logs.get(client.node()).size();
      int v1 = 0;
      int v2 = 0;
      List<String> problems = new ArrayList<>();
      try (HttpOverSocks http = HttpOverSocks.open(socks(client), PAYMENT, 80, TIMEOUT)) {
        for (int i = 0; i < SPLIT_REQUESTS && http.isOpen(); i++) {
          Response r = http.get("/pay/" + i, Map.of());
          String version = r.status() == 200 ? DemoAccessLog.field(r.body(), "version") : null;
          if ("v1".equals(version)) {
            v1++;
          } else if ("v2".equals(version)) {
            v2++;
          } else if (problems.isEmpty()) {
            problems.add("request " + (i + 1) + " answered " + r.status() + " " + r.body().strip());
          }
          String peer = r.status() == 200 ? DemoAccessLog.field(r.body(), "peer") : null;
          if (peer != null && !peer.equals(wp.identity().toString()) && problems.isEmpty()) {
            problems.add("the payment app saw peer " + peer + ", expected the waypoint");
          }
        }
      } catch (Exception e) {
        problems.add("request failed: " + e.getMessage());
      }
      if (v1 + v2 != SPLIT_REQUESTS && problems.isEmpty()) {
        problems.add("only " + (v1 + v2) + " of " + SPLIT_REQUESTS + " answered");
      }
      if (v2 > v1) {
        problems.add("v2 got more than v1");
      }
      if (!waypointSawClient(wp, client)) {
        problems.add("the waypoint's metrics do not show source_principal " + client.spiffeId());
      }
      rows.add(new Row(problems.isEmpty(), step, "v1 " + v1 + " / v2 " + v2, client.spiffeId(),
          waypointIdentitySeen(client, logFrom), "-", "yes", String.join("; ", problems)));
    }

    /** Until the local rate limit answers 429 (bounded). */
    private void rateLimit(Workload client, Waypoint wp) {
      String step = l7Step(client, "until the rate limit");
      int sent = 0;
      Response limited = null;
      String failure = "";
      try (HttpOverSocks http = HttpOverSocks.open(socks(client), PAYMENT, 80, TIMEOUT)) {
        while (limited == null && sent < 200 && http.isOpen()) {
          Response r = http.get("/pay", Map.of());
          sent++;
          if (r.status() == 429) {
            limited = r;
          }
        }
      } catch (Exception e) {
        failure = "request failed: " + e.getMessage();
      }
      if (limited == null && failure.isEmpty()) {
        failure = "no 429 in " + sent + " requests";
      } else if (limited != null && limited.header("retry-after") == null) {
        failure = "429 without Retry-After";
      }
      rows.add(new Row(failure.isEmpty(), step, limited == null ? "-"
              : "429 at request " + sent + ", Retry-After " + limited.header("retry-after") + " s",
          client.spiffeId(), wp.identity().toString(), "-", "yes", failure));
    }

    /** A caller that payment-access does not allow: the waypoint answers 403. */
    private void denied(Workload caller, Waypoint wp) {
      String step = l7Step(caller, "not api-gateway");
      String failure = "";
      Response r = null;
      try (HttpOverSocks http = HttpOverSocks.open(socks(caller), PAYMENT, 80, TIMEOUT)) {
        r = http.get("/pay", Map.of());
        if (r.status() != 403) {
          failure = "expected 403 from payment-access, got " + r.status();
        }
      } catch (Exception e) {
        failure = "request failed: " + e.getMessage();
      }
      rows.add(new Row(failure.isEmpty(), step, r == null ? "-" : r.status() + " " + r.body().strip(),
          caller.spiffeId(), wp.identity().toString(), "-", "yes", failure));
    }

    private void http(Workload client, String host, int port, Workload expected, boolean mtls)
        throws InterruptedException {
      String step = client.name() + " (" + client.node() + ") → " + host + ":" + port;
      DemoAccessLog srcLog = logs.get(client.node());
      DemoAccessLog dstLog = logs.get(expected.node());
      int srcFrom = srcLog.size();
      int dstFrom = dstLog == null ? 0 : dstLog.size();
      InetSocketAddress socks = new InetSocketAddress(client.addresses().get(0), 15080);
      String body;
      try {
        body = Socks5Client.httpGet(socks, host, port, "/", TIMEOUT);
      } catch (Exception e) {
        rows.add(new Row(false, step, "-", "-", "-", "-", "-", "request failed: " + e.getMessage()));
        return;
      }
      String answeredBy = DemoAccessLog.field(body, "workload");
      String peerSeen = DemoAccessLog.field(body, "peer");
      Optional<String> outbound = srcLog.await(srcFrom,
          l -> "outbound".equals(DemoAccessLog.field(l, "direction")), 3000);
      Optional<String> inbound = mtls && dstLog != null
          ? dstLog.await(dstFrom, l -> "inbound".equals(DemoAccessLog.field(l, "direction"))
              && expected.spiffeId().equals(DemoAccessLog.field(l, "dst.identity")), 3000)
          : Optional.empty();
      String clientId = inbound.map(l -> DemoAccessLog.field(l, "src.identity")).orElse("-");
      String serverId = outbound.map(l -> DemoAccessLog.field(l, "dst.identity")).orElse(null);
      boolean tunneled = outbound.map(l -> DemoAccessLog.field(l, "dst.hbone_addr") != null)
          .orElse(false);
      String bytes = outbound.map(l -> DemoAccessLog.field(l, "bytes_sent") + " / "
          + DemoAccessLog.field(l, "bytes_recv")).orElse("-");
      List<String> problems = new ArrayList<>();
      if (!expected.name().equals(answeredBy)) {
        problems.add("expected an answer from " + expected.name() + ", got " + answeredBy);
      }
      if (outbound.isEmpty()) {
        problems.add("no outbound access-log line on " + client.node());
      }
      if (mtls) {
        if (!tunneled) {
          problems.add("the connection was not carried over HBONE");
        }
        if (inbound.isEmpty()) {
          problems.add("no inbound access-log line on " + expected.node());
        }
        if (!client.spiffeId().equals(clientId)) {
          problems.add(expected.node() + " saw client identity " + clientId);
        }
        if (!expected.spiffeId().equals(serverId)) {
          problems.add(client.node() + " verified server identity " + serverId);
        }
        if (!client.spiffeId().equals(peerSeen)) {
          problems.add("the app saw peer " + peerSeen);
        }
      } else {
        if (tunneled) {
          problems.add("expected plain TCP to an unenrolled workload, got HBONE");
        }
        if (!"none".equals(peerSeen)) {
          problems.add("the app saw peer " + peerSeen + " (expected none: plaintext)");
        }
      }
      rows.add(new Row(problems.isEmpty(), step,
          answeredBy == null ? "-" : answeredBy + " (" + expected.node() + ")",
          clientId, serverId == null ? "-" : serverId, bytes, tunneled ? "yes" : "no",
          String.join("; ", problems)));
    }

    private void checkMetrics(String node, Workload client, Workload server) {
      Ztunnel z = ztunnels.get(node);
      String step = node + " /metrics: istio_tcp_* reporter=destination";
      try {
        String text = get(z.metricsAddress(), "/metrics");
        long lines = text.lines().filter(l -> l.startsWith("istio_tcp_connections_opened_total{")
            && l.contains("reporter=\"destination\"")
            && l.contains("source_principal=\"" + client.spiffeId() + "\"")
            && l.contains("destination_principal=\"" + server.spiffeId() + "\"")
            && l.contains("connection_security_policy=\"mutual_tls\"")).count();
        rows.add(new Row(lines > 0, step, "-", client.spiffeId(), server.spiffeId(), "-", "yes",
            lines > 0 ? "" : "no istio_tcp_connections_opened_total sample with both identities"));
      } catch (Exception e) {
        rows.add(new Row(false, step, "-", "-", "-", "-", "-", e.toString()));
      }
    }

    private void checkConfigDump(Workload client) {
      Ztunnel z = ztunnels.get(client.node());
      String step = client.node() + " /config_dump: certificate of " + client.name();
      try {
        String dump = get(z.adminAddress(), "/config_dump");
        boolean ok = dump.contains("\"identity\": \"" + client.spiffeId() + "\"")
            && dump.contains("\"state\": \"Available\"");
        rows.add(new Row(ok, step, "-", client.spiffeId(), "-", "-", "-",
            ok ? "" : "the certificate of " + client.spiffeId() + " is not in the dump"));
      } catch (Exception e) {
        rows.add(new Row(false, step, "-", "-", "-", "-", "-", e.toString()));
      }
    }

    private void printTable() {
      String[] head = {"", "step", "answered by", "client identity (proved to server)",
          "server identity (proved to client)", "bytes sent / recv", "mTLS"};
      List<String[]> cells = new ArrayList<>();
      int n = 1;
      for (Row r : rows) {
        cells.add(new String[] {(r.ok() ? "✓ " : "✗ ") + n++, r.step(), r.answeredBy(),
            r.clientIdentity(), r.serverIdentity(), r.bytes(), r.mtls()});
      }
      int[] width = new int[head.length];
      for (int i = 0; i < head.length; i++) {
        width[i] = head[i].length();
        for (String[] c : cells) {
          width[i] = Math.max(width[i], c[i].length());
        }
      }
      out.println(line(head, width));
      StringBuilder rule = new StringBuilder();
      for (int w : width) {
        rule.append("-".repeat(w)).append("  ");
      }
      out.println(rule.toString().stripTrailing());
      for (String[] c : cells) {
        out.println(line(c, width));
      }
      out.println();
    }

    private static String line(String[] cells, int[] width) {
      StringBuilder b = new StringBuilder();
      for (int i = 0; i < cells.length; i++) {
        b.append(cells[i]).append(" ".repeat(width[i] - cells[i].length() + 2));
      }
      return b.toString().stripTrailing();
    }

    private void printHints(boolean keepRunning) {
      Workload client = workload(CLIENT);
      String socks = client.addresses().get(0).getHostAddress() + ":15080";
      out.println(keepRunning ? "Poke it by hand:" : "Poke it by hand (run `./mesh demo --keep-running` first):");
      out.println("  curl --socks5-hostname " + socks
          + " http://orders.production.svc.cluster.local:80/");
      out.println("  curl --socks5-hostname " + socks + " http://legacy-web.legacy:80/");
      if (!waypoints.isEmpty()) {
        out.println("  curl --socks5-hostname " + socks + " -H 'x-fault-test: true' http://payment-service.production/");
      }
      for (Ztunnel z : ztunnels.values()) {
        out.println("  curl -s http://" + hostPort(z.metricsAddress()) + "/metrics | grep istio_tcp"
            + "      # " + z.node());
      }
      waypointMetrics.forEach((name, m) -> out.println("  curl -s http://" + hostPort(m.address())
          + "/stats/prometheus | grep istio_requests      # " + name));
      for (Ztunnel z : ztunnels.values()) {
        out.println("  curl -s http://" + hostPort(z.adminAddress()) + "/config_dump"
            + "                  # " + z.node());
      }
      out.println();
    }

    private Workload workload(String name) {
      return mesh.workloads().stream().filter(w -> w.name().equals(name)).findFirst()
          .orElseThrow(() -> new IllegalStateException(meshYaml + " has no workload " + name));
    }

    private static String get(InetSocketAddress address, String path) throws Exception {
      try (HttpClient http = HttpClient.newBuilder().connectTimeout(TIMEOUT).build()) {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(
                URI.create("http://" + hostPort(address) + path)).timeout(TIMEOUT).build(),
            HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) {
          throw new IllegalStateException("GET " + path + " answered " + r.statusCode());
        }
        return r.body();
      }
    }
  }

  private static String hostPort(InetSocketAddress a) {
    return NetUtil.toSocketAddressString(a);
  }
}
