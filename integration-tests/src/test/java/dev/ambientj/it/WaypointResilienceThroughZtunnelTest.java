package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.launcher.demo.HttpOverSocks;
import dev.ambientj.launcher.demo.HttpOverSocks.Response;
import dev.ambientj.launcher.demo.Socks5Client;
import dev.ambientj.waypoint.Waypoint;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Routing and resilience of the waypoint on the full L7 path, real mutual TLS on every hop
 * (GitHub issue 6, "Must hold"):
 *
 * <pre>
 * client ──SOCKS5──▶ ztunnel node-a (api-gateway-0) ──HBONE──▶ payment-waypoint (127.62.1.30:15008)
 *        ──HBONE──▶ ztunnel node-b ──▶ payment-v1-0 / payment-v1-1 / payment-v2-0 :8080
 * </pre>
 *
 * <p>The example mesh moved to 127.62.x, with one more v1 pod (payment-v1-1, 127.62.2.22) so that
 * outlier ejection has somewhere else to send traffic. The example's payment VirtualService and
 * DestinationRule are replaced by {@link #POLICIES}: header and prefix canary routes, a route to a
 * missing subset, the seed's retries (attempts 2, 5xx; timeout 2 s instead of 10 s, so that a stuck
 * retry costs the class 2 s, not 10) on {@code /flaky}, a 300 ms timeout on
 * {@code /slow}, and outlier detection with baseEjectionTime 1s. The pods are
 * {@link ControllableHttpBackend}s. Tests run in order (ejection leaves state behind for ~1 s).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class WaypointResilienceThroughZtunnelTest {
  private static final String P = "127.62";
  private static final String PAYMENT = "payment-service.production.svc.cluster.local";

  private static final String EXTRA_V1_POD = """
      ---
      apiVersion: v1
      kind: Pod
      metadata:
        name: payment-v1-1
        namespace: production
        labels:
          app: payment-service
          version: v1
      spec:
        nodeName: node-b
        serviceAccountName: payment-service
        containers:
        - name: payment
          image: example/payment:1.0
          ports:
          - name: http
            containerPort: 8080
      status:
        phase: Running
        podIP: 127.0.2.22
        podIPs:
        - ip: 127.0.2.22
      """;

  /** The example's payment policies, adapted: more routes, a 1 s ejection, no rate limit. */
  private static final String POLICIES = """
      ---
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata:
        name: payment-service
        namespace: production
      spec:
        hosts:
        - payment-service
        http:
        - name: canary-users
          match:
          - headers:
              x-canary-user:
                exact: "true"
          route:
          - destination:
              host: payment-service
              subset: v2
        - name: api-v2
          match:
          - uri:
              prefix: /api/v2
          route:
          - destination:
              host: payment-service
              subset: v2
        - name: broken
          match:
          - uri:
              prefix: /broken
          route:
          - destination:
              host: payment-service
              subset: v3
        - name: flaky
          match:
          - uri:
              prefix: /flaky
          route:
          - destination:
              host: payment-service
              subset: v2
          timeout: 2s
          retries:
            attempts: 2
            retryOn: 5xx,reset,connect-failure
        - name: slow
          match:
          - uri:
              prefix: /slow
          route:
          - destination:
              host: payment-service
              subset: v1
          timeout: 300ms
          retries:
            attempts: 0
        - name: stable
          route:
          - destination:
              host: payment-service
              subset: v1
          retries:
            attempts: 0
      ---
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata:
        name: payment-service
        namespace: production
      spec:
        host: payment-service
        trafficPolicy:
          loadBalancer:
            simple: ROUND_ROBIN
          connectionPool:
            tcp:
              maxConnections: 100
            http:
              h2UpgradePolicy: DEFAULT
              http1MaxPendingRequests: 100
              http2MaxRequests: 1000
          outlierDetection:
            consecutive5xxErrors: 5
            interval: 1s
            baseEjectionTime: 1s
            maxEjectionPercent: 50
        subsets:
        - name: v1
          labels:
            version: v1
        - name: v2
          labels:
            version: v2
      ---
      apiVersion: security.istio.io/v1
      kind: PeerAuthentication
      metadata:
        name: default
        namespace: production
      spec:
        mtls:
          mode: STRICT
      ---
      apiVersion: security.istio.io/v1
      kind: AuthorizationPolicy
      metadata:
        name: payment-access
        namespace: production
      spec:
        targetRefs:
        - kind: Service
          group: ""
          name: payment-service
        action: ALLOW
        rules:
        - from:
          - source:
              principals: ["cluster.local/ns/production/sa/api-gateway"]
      """;

  private Mesh mesh;
  private Waypoint waypoint;
  private InetSocketAddress socks;
  private ControllableHttpBackend v10;
  private ControllableHttpBackend v11;
  private ControllableHttpBackend v2;

  @BeforeAll
  void startMesh() throws Exception {
    mesh = Mesh.fromYaml(TestMeshes.example(P) + TestMeshes.relocate(EXTRA_V1_POD + POLICIES, P));
    mesh.node("node-a").ztunnel();
    mesh.node("node-b").ztunnel();
    v10 = ControllableHttpBackend.start(mesh, "payment-v1-0", 8080);
    v11 = ControllableHttpBackend.start(mesh, "payment-v1-1", 8080);
    v2 = ControllableHttpBackend.start(mesh, "payment-v2-0", 8080);
    SnapshotPublisher waypointConfig = new SnapshotPublisher();
    waypointConfig.publish(mesh.snapshot());
    waypoint = mesh.own(Waypoint.builder().name("payment-waypoint").namespace("production")
        .config(waypointConfig)
        .identityProvider(mesh.ca().asIdentityProvider(Duration.ofHours(1)))
        .transport(mesh.transport())
        .eventLoopGroup(mesh.group())
        .build()
        .start());
    assertThat(waypoint.address()).isEqualTo(new InetSocketAddress(P + ".1.30", Waypoint.HBONE_PORT));
    socks = mesh.workload("api-gateway-0").socks();
  }

  @AfterAll
  void stopMesh() throws Exception {
    if (mesh != null) {
      mesh.close();
    }
  }

  private HttpOverSocks open() throws Exception {
    return HttpOverSocks.open(socks, PAYMENT, 80, Mesh.TIMEOUT);
  }

  private static String version(Response r) {
    assertThat(r.status()).as(r.body()).isEqualTo(200);
    if (r.body().contains("\"version\":\"v1\"")) {
      return "v1";
    }
    if (r.body().contains("\"version\":\"v2\"")) {
      return "v2";
    }
    throw new AssertionError("no version in " + r.body());
  }

  @Test
  @Order(1)
  void canaryHeaderAndApiV2PrefixGoToV2AndEverythingElseToV1() throws Exception {
    try (HttpOverSocks http = open()) {
      for (int i = 0; i < 20; i++) {
        assertThat(version(http.get("/pay/" + i, Map.of("x-canary-user", "true")))).isEqualTo("v2");
        assertThat(version(http.get("/api/v2/charge/" + i, Map.of()))).isEqualTo("v2");
        assertThat(version(http.get("/api/v1/charge/" + i, Map.of()))).isEqualTo("v1");
        assertThat(version(http.get("/pay/" + i, Map.of()))).isEqualTo("v1");
        assertThat(version(http.get("/pay/" + i, Map.of("x-canary-user", "false")))).isEqualTo("v1");
      }
    }
  }

  @Test
  @Order(2)
  void routeToAMissingSubsetAnswers503AndIsReported() throws Exception {
    assertThat(waypoint.configProblems()).as("the operator-facing line")
        .anyMatch(p -> p.contains("missing subset") && p.contains("v3"));
    System.out.println("waypoint config problems: " + waypoint.configProblems());
    try (HttpOverSocks http = open()) {
      Response broken = http.get("/broken", Map.of());
      assertThat(broken.status()).as(broken.body()).isEqualTo(503);
      Response next = http.get("/pay", Map.of());
      assertThat(version(next)).as("other routes still work").isEqualTo("v1");
    }
    assertThat(waypoint.metrics().scrape()).containsPattern(
        "istio_requests_total\\{[^}]*response_code=\"503\"[^}]*response_flags=\"NC\"");
  }

  @Test
  @Order(3)
  void retriesHideABackendThatFailsEveryOtherRequest() throws Exception {
    int total = 200;
    int ok = 0;
    Map<Integer, Integer> failures = new java.util.TreeMap<>();
    int before = v2.flaky.get();
    HttpOverSocks http = open();
    try {
      for (int i = 0; i < total; i++) {
        if (!http.isOpen()) {
          http.close();
          http = open();
        }
        Response r = http.get("/flaky/" + i, Map.of());
        if (r.status() == 200) {
          assertThat(version(r)).isEqualTo("v2");
          ok++;
        } else {
          failures.merge(r.status(), 1, Integer::sum);
        }
      }
    } finally {
      http.close();
    }
    int tries = v2.flaky.get() - before;
    System.out.printf("retries: %d/%d succeeded (%.1f%%), failures by status %s; the backend saw %d tries%n",
        ok, total, 100.0 * ok / total, failures, tries);
    assertThat(ok).as("≥ 99%% of %d; failures %s", total, failures).isGreaterThanOrEqualTo(198);
    assertThat(tries).as("every other try failed and was retried").isGreaterThanOrEqualTo(total + total / 2 - 2);
  }

  @Test
  @Order(4)
  void routeTimeoutAnswers504BeforeTheSlowBackendDoes() throws Exception {
    try (HttpOverSocks http = open()) {
      long t0 = System.nanoTime();
      Response r = http.get("/slow", Map.of());
      long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
      System.out.printf("timeout: %d after %d ms (route timeout 300 ms, backend %d ms)%n",
          r.status(), ms, ControllableHttpBackend.SLOW_MS);
      assertThat(r.status()).as(r.body()).isEqualTo(504);
      assertThat(r.body()).contains("upstream request timeout");
      assertThat(ms).as("well before the backend answers").isLessThan(ControllableHttpBackend.SLOW_MS - 100);
    }
    // The next connection works (and the late answer of the backend went nowhere).
    try (HttpOverSocks http = open()) {
      assertThat(version(http.get("/pay", Map.of()))).isEqualTo("v1");
    }
  }

  @Test
  @Order(5)
  void endpointFailingFiveTimesInARowIsEjectedAndComesBack() throws Exception {
    Thread.sleep(1_100); // let any ejection from an earlier test (the 504) expire
    v11.failing = true;
    try (HttpOverSocks http = open()) {
      int failedBefore = v11.requests.get();
      int errors = 0;
      int fromV10 = 0;
      for (int i = 0; i < 30; i++) {
        Response r = http.get("/eject/" + i, Map.of());
        if (r.status() == 500) {
          assertThat(r.body()).contains("payment-v1-1");
          errors++;
        } else {
          assertThat(r.status()).as(r.body()).isEqualTo(200);
          assertThat(r.body()).contains("payment-v1-0");
          fromV10++;
        }
      }
      int v11Hits = v11.requests.get() - failedBefore;
      System.out.printf("ejection: payment-v1-1 got %d of 30 requests (%d answered 500), payment-v1-0 %d%n",
          v11Hits, errors, fromV10);
      assertThat(v11Hits).as("v1-1 gets requests until its 5th consecutive 500, then is ejected").isEqualTo(5);
      assertThat(errors).isEqualTo(5);
      assertThat(fromV10).isEqualTo(25);

      v11.failing = false;
      long ejectedAt = System.nanoTime();
      int back = v11.requests.get();
      int sent = 0;
      long deadline = ejectedAt + TimeUnit.SECONDS.toNanos(10);
      while (v11.requests.get() == back && System.nanoTime() < deadline) {
        assertThat(http.get("/back/" + sent++, Map.of()).status()).isEqualTo(200);
        Thread.sleep(20);
      }
      long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - ejectedAt);
      System.out.printf("ejection: payment-v1-1 served again after %d ms and %d requests%n", ms, sent);
      assertThat(v11.requests.get()).as("back after baseEjectionTime (1 s), within 10 s").isGreaterThan(back);
      int v10Before = v10.requests.get();
      int v11Before = v11.requests.get();
      for (int i = 0; i < 10; i++) {
        assertThat(http.get("/balanced/" + i, Map.of()).status()).isEqualTo(200);
      }
      assertThat(v11.requests.get() - v11Before).as("round robin again").isBetween(4, 6);
      assertThat(v10.requests.get() - v10Before).isBetween(4, 6);
    } finally {
      v11.failing = false;
    }
  }

  @Test
  @Order(6)
  void malformedRequestLineGets400AndTheWaypointKeepsServing() throws Exception {
    try (Socket s = Socks5Client.connect(socks, PAYMENT, 80, Mesh.TIMEOUT)) {
      s.setSoTimeout((int) Mesh.TIMEOUT.toMillis());
      OutputStream out = s.getOutputStream();
      out.write("BAD REQUEST LINE!\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      String reply = readUntilClose(s.getInputStream());
      assertThat(reply).startsWith("HTTP/1.1 400");
    }
    try (HttpOverSocks http = open()) {
      assertThat(version(http.get("/still-here", Map.of()))).isEqualTo("v1");
    }
  }

  /**
   * Everything until the peer closes (EOF or reset — both end the connection for the user);
   * fails if it stays open past the socket timeout.
   */
  private static String readUntilClose(InputStream in) throws Exception {
    ByteArrayOutputStream all = new ByteArrayOutputStream();
    byte[] buf = new byte[4096];
    String end = "EOF";
    try {
      for (int n = in.read(buf); n >= 0; n = in.read(buf)) {
        all.write(buf, 0, n);
      }
    } catch (SocketTimeoutException e) {
      throw new AssertionError("the connection stayed open after: " + all.toString(StandardCharsets.US_ASCII), e);
    } catch (SocketException e) {
      end = e.getMessage();
    }
    String reply = all.toString(StandardCharsets.US_ASCII);
    System.out.printf("bad input: reply %s then %s%n", reply.replace("\r\n", "|"), end);
    return reply;
  }
}
