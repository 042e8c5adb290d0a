package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ambientj.config.ConfigRejectionMetrics;
import dev.ambientj.config.ProxyConfigSources;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.ca.CaClient;
import dev.ambientj.config.server.ConfigServerCommand;
import dev.ambientj.hbone.ConnectTarget;
import dev.ambientj.hbone.HboneClient;
import dev.ambientj.hbone.HboneClientConfig;
import dev.ambientj.hbone.identity.CertificateManager;
import dev.ambientj.hbone.identity.LocalCertificateAuthority;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.hbone.transport.Transport;
import dev.ambientj.launcher.demo.EchoBackend;
import dev.ambientj.launcher.demo.HttpOverSocks;
import dev.ambientj.testing.Privileged;
import dev.ambientj.waypoint.Waypoint;
import dev.ambientj.waypoint.telemetry.MetricsServer;
import dev.ambientj.ztunnel.ListenerBinder;
import dev.ambientj.ztunnel.Ztunnel;
import io.netty.channel.EventLoopGroup;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Grafana dashboards of {@code dashboards/} against a real Prometheus (Debian's {@code
 * prometheus}): the example mesh fed over xDS by a real config server (moved to 127.117.x), two
 * ztunnels and the payment waypoint, scraped every second; traffic through ztunnel (TCP to orders,
 * a TLS failure from a rogue client) and through the waypoint (successes, retries of 503s, an
 * outlier ejection, the example's local rate limit answering 429). Then every {@code expr} of every
 * panel of both dashboards goes to Prometheus' {@code /api/v1/query}; a query that errors or
 * returns no series fails the test, naming dashboard, panel and query.
 *
 * <p>Skipped (reason printed) without {@code prometheus} on the PATH, failed instead under
 * {@code AMBIENTJ_REQUIRE_PRIVILEGED_TESTS=true} (CI, which installs it).
 */
class DashboardPrometheusTest {
  private static final String P = "127.117";
  private static final String PAYMENT = "payment-service.production.svc.cluster.local";
  private static final String ORDERS = "orders.production.svc.cluster.local";
  private static final Duration BOUND = Duration.ofSeconds(60);
  /** A policy the translator refuses: what the "Configuration rejections" panels show. */
  private static final String INVALID_POLICY = TestMeshes.invalidPolicy("selector-and-target-refs");


  /** What {@code $__rate_interval} becomes: Grafana's value for a 1 s scrape is about this. */
  private static final String RATE_INTERVAL = "1m";

  @TempDir Path dir;
  private final List<AutoCloseable> closeables = new ArrayList<>();
  private final Transport transport = Transport.select(Transport.Kind.parse("auto"));
  private EventLoopGroup group;
  private ConfigServerCommand.Running server;
  private Process prometheus;
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private final ObjectMapper json = new ObjectMapper();

  @AfterEach
  void stop() throws Exception {
    if (prometheus != null) {
      prometheus.destroy();
      if (!prometheus.waitFor(10, TimeUnit.SECONDS)) {
        prometheus.destroyForcibly();
      }
    }
    for (int i = closeables.size() - 1; i >= 0; i--) {
      try {
        closeables.get(i).close();
      } catch (Exception e) {
        // keep closing the rest
      }
    }
    if (server != null) {
      server.close();
    }
    if (group != null) {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
    http.close();
  }

  @Test
  void everyPanelOfBothDashboardsHasSeriesInARealPrometheus() throws Exception {
    requirePrometheus();
    List<InetSocketAddress> ztunnelMetrics = startMesh();
    InetSocketAddress waypointMetrics = new InetSocketAddress(address("payment-waypoint-0"), 15020);
    String base = startPrometheus(ztunnelMetrics, waypointMetrics);
    awaitTargetsUp(base, ztunnelMetrics.size() + 1);

    driveTraffic();
    // Scraped after the traffic, and a few samples more, so that rate() has two in its window.
    eventually("Prometheus has the rate-limited requests", () -> !query(base,
        "istio_requests_total{response_code=\"429\"}").path("data").path("result").isEmpty());
    Thread.sleep(4000);

    List<String> failures = new ArrayList<>();
    int queries = 0;
    for (String file : List.of("ztunnel.json", "waypoint.json")) {
      JsonNode dashboard = json.readTree(dashboards().resolve(file).toFile());
      for (JsonNode panel : panels(dashboard)) {
        for (JsonNode target : panel.path("targets")) {
          String expr = target.path("expr").asText();
          String promql = substitute(expr);
          queries++;
          JsonNode answer = query(base, promql);
          String where = file + " / panel \"" + panel.path("title").asText() + "\" / " + expr;
          if (!"success".equals(answer.path("status").asText())) {
            failures.add(where + ": error " + answer.path("error").asText());
          } else if (answer.path("data").path("result").isEmpty()) {
            failures.add(where + ": no series");
          }
        }
      }
    }
    System.out.printf("MEASURED dashboards: %d panel queries run against Prometheus, %d failed%n",
        queries, failures.size());
    assertThat(queries).as("the dashboards have panels with queries").isGreaterThan(20);
    assertThat(failures).as("panel queries that error or return no series").isEmpty();
  }

  // ---- the mesh ----

  /** Starts the config server, both ztunnels and the waypoint; returns the ztunnels' metrics. */
  private List<InetSocketAddress> startMesh() throws Exception {
    Path file = dir.resolve("mesh.yaml");
    Files.writeString(file, TestMeshes.relocate(TestMeshes.exampleFile("mesh.yaml") + "\n---\n"
        + TestMeshes.exampleFile("payment-policies.yaml"), P) + INVALID_POLICY);
    server = ConfigServerCommand.start(new String[] {"--config", file.toString(), "--state-dir",
        dir.resolve("server").toString(), "--listen", "127.0.0.1:0"},
        new PrintStream(new ByteArrayOutputStream(), true));
    group = transport.newEventLoopGroup(2, "it-dashboards");
    Map<String, CertificateManager> certs = Map.of("node-a", certificates("node-a"),
        "node-b", certificates("node-b"));
    List<InetSocketAddress> metrics = new ArrayList<>();
    Map<String, Ztunnel> ztunnels = new java.util.HashMap<>();
    for (String node : List.of("node-a", "node-b")) {
      SnapshotPublisher config = new SnapshotPublisher();
      own(ProxyConfigSources.start(options("ztunnel", "ztunnel-" + node, "istio-system", node),
          config, BOUND));
      Ztunnel z = own(Ztunnel.builder().node(node).config(config).identityProvider(certs.get(node))
          .transport(transport).eventLoopGroup(group).binder(ListenerBinder.hostMode())
          .build().start());
      assertThat(z.awaitReady(BOUND)).as("ztunnel on %s ready", node).isTrue();
      ztunnels.put(node, z);
      metrics.add(z.metricsAddress());
    }
    SnapshotPublisher waypointConfig = new SnapshotPublisher();
    own(ProxyConfigSources.start(options("waypoint", "payment-waypoint-0", "production", "node-a"),
        waypointConfig, BOUND));
    Waypoint waypoint = own(Waypoint.builder().name("payment-waypoint").namespace("production")
        .config(waypointConfig).identityProvider(certs.get("node-a")).transport(transport)
        .eventLoopGroup(group).build().start());
    own(ConfigRejectionMetrics.bind(waypoint.metrics(), waypointConfig)); // as mesh waypoint does
    own(MetricsServer.start(new InetSocketAddress(address("payment-waypoint-0"), 15020), group,
        transport.serverChannelClass(), waypoint.metrics(), null, waypoint::ready));
    Ztunnel nodeB = ztunnels.get("node-b");
    own(EchoBackend.start(group, transport.serverChannelClass(),
        new InetSocketAddress(address("orders-0"), 8080), "orders-0", "v1",
        nodeB::findInboundPeerIdentity));
    v1 = own(ControllableHttpBackend.start(group, transport, "payment-v1-0", "v1",
        new InetSocketAddress(address("payment-v1-0"), 8080)));
    own(ControllableHttpBackend.start(group, transport, "payment-v2-0", "v2",
        new InetSocketAddress(address("payment-v2-0"), 8080)));
    return metrics;
  }

  private ControllableHttpBackend v1;

  private CertificateManager certificates(String node) throws IOException {
    CaClient ca = own(CaClient.builder(hostPort(server.server().address()))
        .tokenFile(server.tokens().tokenFile(node)).build());
    return own(CertificateManager.create(CaSource.of(ca, Duration.ofHours(1))));
  }

  private ProxyConfigSources.Options options(String type, String pod, String namespace,
      String node) throws IOException {
    return new ProxyConfigSources.Options(List.of(), server.server().address(), type, pod,
        namespace, node, Files.readString(server.tokens().tokenFile(node)).strip(),
        dir.resolve("xds-cache-" + pod + ".pb"));
  }

  /** What an operator's traffic looks like on the dashboards. */
  private void driveTraffic() throws Exception {
    InetSocketAddress socks = new InetSocketAddress(address("api-gateway-0"), 15080);
    InetSocketAddress orders = new InetSocketAddress(address("orders-0"), 15008);
    for (int i = 0; i < 5; i++) {
      assertThat(get(socks, ORDERS, "/orders/" + i).status()).isEqualTo(200);
      assertThat(get(socks, PAYMENT, "/pay/" + i).status()).isEqualTo(200);
    }
    // Every other try of /flaky is a 503 on the pod: the route's retries (2, on 5xx) hide them.
    for (int i = 0; i < 10; i++) {
      get(socks, PAYMENT, "/flaky/" + i);
    }
    // v1 failing: five 5xx in a row eject it (outlierDetection consecutive5xxErrors: 5).
    v1.failing = true;
    for (int i = 0; i < 10; i++) {
      get(socks, PAYMENT, "/while-v1-fails/" + i);
    }
    v1.failing = false;
    // The example's local rate limit: 100 requests a minute, then 429.
    boolean limited = false;
    for (int i = 0; i < 150 && !limited; i++) {
      limited = get(socks, PAYMENT, "/burst/" + i).status() == 429;
    }
    assertThat(limited).as("the local rate limit answered 429").isTrue();
    // A client with a certificate of another CA: node-b's ztunnel counts a TLS failure.
    LocalCertificateAuthority rogue = LocalCertificateAuthority.create("cluster.local");
    try (HboneClient client = new HboneClient(HboneClientConfig.defaults(), transport, group,
        rogue.asIdentityProvider(Duration.ofHours(1)))) {
      SpiffeId source = SpiffeId.parse("spiffe://cluster.local/ns/production/sa/api-gateway");
      try {
        client.connect(new ConnectTarget(source,
                Set.of(SpiffeId.parse("spiffe://cluster.local/ns/production/sa/orders")),
                orders, orders.getAddress().getHostAddress() + ":8080"))
            .get(10, TimeUnit.SECONDS);
      } catch (java.util.concurrent.ExecutionException expected) {
        // refused: the point
      }
    }
    // The config server goes away (a rollout): each proxy counts the end of its xDS stream and
    // keeps serving what it has.
    server.close();
    server = null;
    assertThat(get(socks, ORDERS, "/after-the-server-left").status()).isEqualTo(200);
  }

  private static HttpOverSocks.Response get(InetSocketAddress socks, String host, String path)
      throws IOException {
    try (HttpOverSocks c = HttpOverSocks.open(socks, host, 80, Duration.ofSeconds(10))) {
      return c.get(path, Map.of());
    }
  }

  private InetAddress address(String pod) {
    return server.publisher().snapshot().workloads().stream()
        .filter(w -> w.name().equals(pod)).findFirst().orElseThrow().addresses().getFirst();
  }

  private <T extends AutoCloseable> T own(T c) {
    closeables.add(c);
    return c;
  }

  // ---- Prometheus ----

  private static void requirePrometheus() {
    if (Privileged.onPath("prometheus")) {
      return;
    }
    String reason = "'prometheus' not found (apt-get install -y prometheus)";
    if ("true".equals(System.getenv(Privileged.REQUIRE_ENV))) {
      org.junit.jupiter.api.Assertions.fail(reason + " (" + Privileged.REQUIRE_ENV
          + "=true: must not be skipped)");
    }
    System.out.println("SKIPPED dashboard test: " + reason);
    org.junit.jupiter.api.Assumptions.abort(reason);
  }

  /** Writes prometheus.yml (every proxy, every second) and starts Prometheus; its base URL. */
  private String startPrometheus(List<InetSocketAddress> ztunnels, InetSocketAddress waypoint)
      throws Exception {
    String config = """
        global:
          scrape_interval: 1s
          evaluation_interval: 1s
        scrape_configs:
        - job_name: ztunnel
          metrics_path: /stats/prometheus
          static_configs:
          - targets: [%s]
        - job_name: waypoint
          metrics_path: /stats/prometheus
          static_configs:
          - targets: ['%s']
        """.formatted(String.join(", ", ztunnels.stream().map(a -> "'" + hostPort(a) + "'")
            .toList()), hostPort(waypoint));
    Path yml = dir.resolve("prometheus.yml");
    Files.writeString(yml, config);
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    Path log = dir.resolve("prometheus.log");
    prometheus = new ProcessBuilder("prometheus", "--config.file=" + yml,
        "--storage.tsdb.path=" + dir.resolve("tsdb"), "--web.listen-address=127.0.0.1:" + port,
        "--log.level=warn").redirectErrorStream(true).redirectOutput(log.toFile()).start();
    String base = "http://127.0.0.1:" + port;
    eventually("Prometheus ready at " + base + " (log: " + log + ")", () -> {
      if (!prometheus.isAlive()) {
        throw new AssertionError("prometheus exited: " + Files.readString(log));
      }
      return status(base + "/-/ready") == 200;
    });
    return base;
  }

  private void awaitTargetsUp(String base, int targets) throws Exception {
    eventually(targets + " targets up", () -> {
      JsonNode active = json.readTree(fetch(base + "/api/v1/targets")).path("data")
          .path("activeTargets");
      int up = 0;
      for (JsonNode t : active) {
        up += "up".equals(t.path("health").asText()) ? 1 : 0;
      }
      return up == targets;
    });
  }

  private JsonNode query(String base, String promql) throws Exception {
    return json.readTree(fetch(base + "/api/v1/query?query="
        + URLEncoder.encode(promql, StandardCharsets.UTF_8)));
  }

  private String fetch(String uri) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(uri)).timeout(Duration.ofSeconds(10))
        .build(), HttpResponse.BodyHandlers.ofString()).body();
  }

  private int status(String uri) {
    try {
      return http.send(HttpRequest.newBuilder(URI.create(uri)).timeout(Duration.ofSeconds(2))
          .build(), HttpResponse.BodyHandlers.discarding()).statusCode();
    } catch (IOException e) {
      return -1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return -1;
    }
  }

  // ---- the dashboards ----

  static Path dashboards() {
    for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
      if (Files.isRegularFile(d.resolve("dashboards/ztunnel.json"))) {
        return d.resolve("dashboards");
      }
    }
    throw new IllegalStateException("dashboards/ not found above " + Path.of("").toAbsolutePath());
  }

  /** Every panel, those inside collapsed rows too (rows themselves have no queries). */
  static List<JsonNode> panels(JsonNode dashboard) {
    List<JsonNode> out = new ArrayList<>();
    for (JsonNode p : dashboard.path("panels")) {
      out.add(p);
      p.path("panels").forEach(out::add);
    }
    return out;
  }

  private static final Pattern VARIABLE = Pattern.compile("\\$\\{?(\\w+)}?");

  /** Grafana's built-in interval variables as a dashboard viewer gets them; no other variable. */
  static String substitute(String expr) {
    Matcher m = VARIABLE.matcher(expr);
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      String value = switch (m.group(1)) {
        case "__rate_interval", "__interval", "__range" -> RATE_INTERVAL;
        default -> throw new AssertionError("unknown variable $" + m.group(1) + " in " + expr);
      };
      m.appendReplacement(out, value);
    }
    m.appendTail(out);
    return out.toString();
  }

  @FunctionalInterface
  private interface Check {
    boolean holds() throws Exception;
  }

  private static void eventually(String what, Check check) throws Exception {
    long deadline = System.nanoTime() + BOUND.toNanos();
    while (!check.holds()) {
      assertThat(System.nanoTime()).as("not within %d s: %s", BOUND.toSeconds(), what)
          .isLessThan(deadline);
      Thread.sleep(200);
    }
  }

  private static String hostPort(InetSocketAddress a) {
    return a.getAddress().getHostAddress() + ":" + a.getPort();
  }
}
