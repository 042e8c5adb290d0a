package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.launcher.demo.HttpOverSocks;
import dev.ambientj.launcher.demo.HttpOverSocks.Response;
import dev.ambientj.waypoint.Waypoint;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The L7 path end to end, on the example mesh and its payment policies (moved to 127.61.x), real
 * mutual TLS on every hop:
 *
 * <pre>
 * client ──SOCKS5──▶ ztunnel node-a (api-gateway-0) ──HBONE──▶ payment-waypoint (127.61.1.30:15008)
 *        ──HBONE, waypoint identity──▶ ztunnel node-b inbound 15008 ──▶ payment-v1-0 / payment-v2-0 :8080
 * </pre>
 *
 * <p>Changes to the example, for the test: the rate-limit bucket holds 2,500 tokens (the split and
 * fault tests spend about 2,400; the last test spends the rest and sees 429), and one more
 * AuthorizationPolicy denies {@code /admin} on payment-service at the waypoint. The tests share
 * the bucket, so they run in order.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class WaypointThroughZtunnelTest {
  private static final String P = "127.61";
  private static final String PAYMENT = "payment-service.production.svc.cluster.local";
  private static final String GATEWAY_ID = "spiffe://cluster.local/ns/production/sa/api-gateway";
  private static final String WAYPOINT_ID = "spiffe://cluster.local/ns/production/sa/payment-waypoint";
  private static final int BUCKET = 2_500;

  private static final String DENY_ADMIN = """
      ---
      apiVersion: security.istio.io/v1
      kind: AuthorizationPolicy
      metadata:
        name: payment-deny-admin
        namespace: production
      spec:
        targetRefs:
        - kind: Service
          group: ""
          name: payment-service
        action: DENY
        rules:
        - to:
          - operation:
              paths: ["/admin", "/admin/*"]
      """;

  private String yaml;
  private Mesh mesh;
  private SnapshotPublisher waypointConfig;
  private Waypoint waypoint;
  private InetSocketAddress socks;

  @BeforeAll
  void startMesh() throws Exception {
    String policies = TestMeshes.exampleFile("payment-policies.yaml");
    String limited = policies.replace("max_tokens: 100", "max_tokens: " + BUCKET)
        .replace("tokens_per_fill: 100", "tokens_per_fill: " + BUCKET)
        .replace("fill_interval: 60s", "fill_interval: 3600s");
    assertThat(limited).as("the example's rate limit was found and changed").isNotEqualTo(policies);
    yaml = TestMeshes.relocate(TestMeshes.exampleFile("mesh.yaml") + "\n---\n" + limited + DENY_ADMIN, P);
    mesh = Mesh.fromYaml(yaml);
    mesh.node("node-a").ztunnel();
    mesh.node("node-b").ztunnel();
    mesh.workload("payment-v1-0").httpEcho(8080);
    mesh.workload("payment-v2-0").httpEcho(8080);
    // The waypoint follows its own publisher, fed the mesh's (immutable) snapshot.
    waypointConfig = new SnapshotPublisher();
    waypointConfig.publish(mesh.snapshot());
    waypoint = mesh.own(Waypoint.builder().name("payment-waypoint").namespace("production")
        .config(waypointConfig)
        .identityProvider(mesh.ca().asIdentityProvider(Duration.ofHours(1)))
        .transport(mesh.transport())
        .eventLoopGroup(mesh.group())
        .build()
        .start());
    assertThat(waypoint.address()).isEqualTo(new InetSocketAddress(P + ".1.30", Waypoint.HBONE_PORT));
    assertThat(waypoint.identity().toString()).isEqualTo(WAYPOINT_ID);
    socks = mesh.workload("api-gateway-0").socks();
  }

  @AfterAll
  void stopMesh() throws Exception {
    if (mesh != null) {
      mesh.close();
    }
  }

  /**
   * An independent HTTP/2 client (curl, prior knowledge; its first stream is id 1, which the
   * waypoint once took for an h2c upgrade and failed the connection) through SOCKS5, ztunnel and
   * the waypoint.
   */
  @Test
  @Order(1)
  void curlSpeaksHttp2WithPriorKnowledgeThroughTheWholePath() throws Exception {
    Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/curl")), "curl is not installed");
    String url = "http://" + PAYMENT + "/h2/";
    Process curl = new ProcessBuilder("curl", "-s", "-m", "20", "--http2-prior-knowledge",
        "--socks5-hostname", socks.getHostString() + ":" + socks.getPort(),
        "-w", "\n%{http_code} %{http_version}\n", url + "1")
        .redirectErrorStream(true).start();
    String out = new String(curl.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(curl.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(curl.exitValue()).as(out).isZero();
    assertThat(out).as(out).endsWith("\n200 2\n");
    assertThat(out).contains("\"workload\":\"payment-v");
  }

  @Test
  @Order(1)
  void canarySplitsNinetyFiveFiveOverTwoThousandRequests() throws Exception {
    int v1 = 0;
    int v2 = 0;
    try (HttpOverSocks http = HttpOverSocks.open(socks, PAYMENT, 80, Mesh.TIMEOUT)) {
      for (int i = 0; i < 2_000; i++) {
        Response r = http.get("/pay/" + i, Map.of());
        assertThat(r.status()).as("request %d: %s", i, r.body()).isEqualTo(200);
        // The app sees the waypoint's identity: the last hop is the waypoint's own HBONE.
        assertThat(r.body()).contains("\"peer\":\"" + WAYPOINT_ID + "\"");
        if (r.body().contains("\"workload\":\"payment-v1-0\"")) {
          v1++;
        } else if (r.body().contains("\"workload\":\"payment-v2-0\"")) {
          v2++;
        }
      }
    }
    System.out.printf("split over 2000 requests: v1 %d / v2 %d%n", v1, v2);
    assertThat(v1 + v2).isEqualTo(2_000);
    assertThat(v2).as("v2 share (5%% ± 2%%) — v1 %d / v2 %d", v1, v2).isBetween(60, 140);
  }

  @Test
  @Order(2)
  void faultTestHeaderGetsInjectedAbortsAndDelays() throws Exception {
    int connections = 8;
    int perConnection = 50;
    ExecutorService pool = Executors.newFixedThreadPool(connections);
    List<Future<int[]>> results = new ArrayList<>();
    try {
      for (int c = 0; c < connections; c++) {
        results.add(pool.submit(() -> {
          int ok = 0;
          int aborted = 0;
          int delayed = 0;
          HttpOverSocks http = HttpOverSocks.open(socks, PAYMENT, 80, Mesh.TIMEOUT);
          try {
            for (int i = 0; i < perConnection; i++) {
              if (!http.isOpen()) {
                http.close();
                http = HttpOverSocks.open(socks, PAYMENT, 80, Mesh.TIMEOUT);
              }
              Response r = http.get("/fault", Map.of("x-fault-test", "true"));
              if (r.status() == 503) {
                assertThat(r.body()).contains("fault filter abort");
                aborted++;
              } else {
                assertThat(r.status()).as(r.body()).isEqualTo(200);
                ok++;
              }
              if (r.nanos() >= TimeUnit.MILLISECONDS.toNanos(500)) { // a delay can only add time
                delayed++;
              }
            }
          } finally {
            http.close();
          }
          return new int[] {ok, aborted, delayed};
        }));
      }
      int ok = 0;
      int aborted = 0;
      int delayed = 0;
      for (Future<int[]> f : results) {
        int[] r = f.get(60, TimeUnit.SECONDS);
        ok += r[0];
        aborted += r[1];
        delayed += r[2];
      }
      int total = connections * perConnection;
      System.out.printf("fault route over %d requests: %d aborted (503), %d delayed >= 500 ms, %d ok%n",
          total, aborted, delayed, ok);
      assertThat(ok + aborted).isEqualTo(total);
      assertThat(aborted).as("5%% aborts of %d", total).isBetween(5, 45);
      assertThat(delayed).as("10%% delays of %d", total).isBetween(15, 75);
    } finally {
      pool.shutdownNow();
    }
    assertThat(waypoint.metrics().scrape()).containsPattern(
        "istio_requests_total\\{[^}]*response_code=\"503\"[^}]*response_flags=\"[^\"]*FI[^\"]*\"");
  }

  @Test
  @Order(3)
  void adminPathIsDeniedAtTheWaypoint() throws Exception {
    try (HttpOverSocks http = HttpOverSocks.open(socks, PAYMENT, 80, Mesh.TIMEOUT)) {
      Response admin = http.get("/admin", Map.of());
      assertThat(admin.status()).isEqualTo(403);
      assertThat(admin.body()).contains("RBAC: access denied");
      assertThat(http.get("/admin/users", Map.of()).status()).isEqualTo(403);
      assertThat(http.get("/administrator", Map.of()).status()).as("only /admin and below").isEqualTo(200);
    }
    // payment-access: only api-gateway may call; orders-0 (node-b) is refused by the waypoint.
    try (HttpOverSocks http = HttpOverSocks.open(mesh.workload("orders-0").socks(), PAYMENT, 80, Mesh.TIMEOUT)) {
      Response r = http.get("/pay", Map.of());
      assertThat(r.status()).isEqualTo(403);
      assertThat(r.body()).contains("RBAC: access denied");
    }
  }

  @Test
  @Order(4)
  void waypointAndDestinationZtunnelReportTheIdentitiesTheySaw() throws Exception {
    String waypointMetrics = waypoint.metrics().scrape();
    assertThat(waypointMetrics).containsPattern("istio_requests_total\\{[^}]*destination_workload=\"payment-v1-0\""
        + "[^}]*reporter=\"waypoint\"[^}]*response_code=\"200\"[^}]*source_principal=\"" + GATEWAY_ID + "\"");
    // The client's ztunnel logs its tunnel to the waypoint once the client is done (the waypoint
    // closes its side after the client's half-close) with the identity the waypoint proved.
    String outbound = mesh.node("node-a").awaitAccessLog(l -> l.contains("\"direction\":\"outbound\"")
        && l.contains("\"dst.workload\":\"payment-waypoint-0\""));
    assertThat(outbound).contains("\"src.identity\":\"" + GATEWAY_ID + "\"")
        .contains("\"dst.identity\":\"" + WAYPOINT_ID + "\"")
        .contains("\"dst.addr\":\"" + P + ".1.30:15008\"")
        .doesNotContain("\"error\"");
    assertThat(mesh.node("node-b").metrics()).containsPattern(
        "istio_tcp_connections_opened_total\\{[^}]*reporter=\"destination\"[^}]*source_principal=\""
            + WAYPOINT_ID + "\"");
  }

  @Test
  @Order(6)
  void rateLimitAnswers429WithRetryAfterOnceTheBucketIsEmpty() throws Exception {
    Response limited = null;
    int sent = 0;
    try (HttpOverSocks http = HttpOverSocks.open(socks, PAYMENT, 80, Mesh.TIMEOUT)) {
      while (sent < BUCKET + 500 && limited == null) {
        Response r = http.get("/spend", Map.of());
        sent++;
        if (r.status() == 429) {
          limited = r;
        } else {
          assertThat(r.status()).as(r.body()).isEqualTo(200);
        }
      }
      System.out.printf("rate limit: first 429 after %d more requests%n", sent);
      assertThat(limited).as("a 429 within %d requests", sent).isNotNull();
      assertThat(limited.header("retry-after")).isNotNull();
      assertThat(Long.parseLong(limited.header("retry-after"))).isPositive();
      assertThat(limited.header("x-envoy-ratelimited")).isEqualTo("true");
      assertThat(limited.body()).contains("local_rate_limited");
      assertThat(http.get("/again", Map.of()).status()).as("still empty").isEqualTo(429);
    }
  }

  /**
   * ztunnel logs a connection when it closes, and the waypoint keeps its upstream connections
   * alive; with {@code maxRequestsPerConnection: 1} in the DestinationRule it closes each after
   * one request, and node-b logs the tunnel it carried.
   */
  @Test
  @Order(5)
  void destinationZtunnelLogsTheWaypointAsTheSource() throws Exception {
    String oneRequestPerConnection = yaml.replace("http1MaxPendingRequests: 100",
        "http1MaxPendingRequests: 100\n        maxRequestsPerConnection: 1");
    assertThat(oneRequestPerConnection).isNotEqualTo(yaml);
    mesh.apply(oneRequestPerConnection);
    waypointConfig.publish(mesh.snapshot());
    Mesh.Node nodeB = mesh.node("node-b");
    try (HttpOverSocks http = HttpOverSocks.open(socks, PAYMENT, 80, Mesh.TIMEOUT)) {
      for (int i = 0; i < 50 && nodeB.accessLog.lines().stream().noneMatch(l -> isWaypointTunnelToV1(l)); i++) {
        assertThat(http.get("/log/" + i, Map.of()).status()).isEqualTo(200);
        Thread.sleep(20);
      }
    } finally {
      // the classes' other tests run against the examples' DestinationRule
      mesh.apply(yaml);
      waypointConfig.publish(mesh.snapshot());
    }
    String line = nodeB.awaitAccessLog(WaypointThroughZtunnelTest::isWaypointTunnelToV1);
    assertThat(line).contains("\"src.identity\":\"" + WAYPOINT_ID + "\"")
        .contains("\"dst.identity\":\"spiffe://cluster.local/ns/production/sa/payment-service\"");
  }

  private static boolean isWaypointTunnelToV1(String line) {
    return line.contains("\"direction\":\"inbound\"") && line.contains("\"dst.workload\":\"payment-v1-0\"");
  }
}
