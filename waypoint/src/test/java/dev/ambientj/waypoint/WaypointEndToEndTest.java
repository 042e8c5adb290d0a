package dev.ambientj.waypoint;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * client (HBONE, api-gateway identity) → waypoint → HBONE → pod (HBONE terminator → HTTP app),
 * over real mTLS on 127.83.x.y, without ztunnel.
 */
class WaypointEndToEndTest {
  static TestMesh mesh;
  static TestPod v1;
  static TestPod v2;

  static TestPod greeter;

  @BeforeAll
  static void start() throws Exception {
    mesh = new TestMesh(83);
    TestPod.Behaviour echoName = (pod, req, ctx) -> TestPod.respond(ctx, req, 200, pod.name);
    v1 = mesh.pod("payment-v1-0", "2.20", TestMesh.PAYMENT, echoName);
    v2 = mesh.pod("payment-v2-0", "2.21", TestMesh.PAYMENT, echoName);
    greeter = mesh.pod("greeter-0", "2.40", TestMesh.PAYMENT, WaypointEndToEndTest::grpcServer);
    mesh.apply("");
    mesh.startWaypoint();
  }

  @AfterAll
  static void stop() {
    if (mesh != null) {
      mesh.close();
    }
  }

  @Test
  void traceAndRequestIdHeadersReachTheBackend() throws Exception {
    mesh.apply("");
    java.util.concurrent.BlockingQueue<io.netty.handler.codec.http.HttpHeaders> seen =
        new java.util.concurrent.LinkedBlockingQueue<>();
    TestPod.Behaviour record = (pod, req, ctx) -> {
      seen.add(req.headers().copy());
      TestPod.respond(ctx, req, 200, pod.name);
    };
    v1.behaviour = record;
    v2.behaviour = record;
    try (TestClient.Http1 c = mesh.client(TestMesh.API_GATEWAY).http1(mesh.paymentVip())) {
      FullHttpRequest req = get("/trace");
      req.headers().set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
      c.send(req).release();
      io.netty.handler.codec.http.HttpHeaders h = seen.poll(5, java.util.concurrent.TimeUnit.SECONDS);
      assertThat(h.get("x-request-id")).isNotBlank();
      assertThat(h.get("traceparent")).startsWith("00-0af7651916cd43dd8448eb211c80319c-").doesNotContain("b7ad6b7169203331");
      assertThat(h.get("x-b3-traceid")).isEqualTo("0af7651916cd43dd8448eb211c80319c");
      assertThat(h.get("traceparent")).as("the caller's sampled flag goes on").endsWith("-01");
      assertThat(h.get("x-b3-parentspanid")).as("the waypoint's server span: neither the caller's nor the hop's")
          .matches("[0-9a-f]{16}").isNotEqualTo("b7ad6b7169203331").isNotEqualTo(h.get("x-b3-spanid"));
      c.send(get("/no-trace")).release();
      h = seen.poll(5, java.util.concurrent.TimeUnit.SECONDS);
      assertThat(h.get("traceparent")).as("a new trace, sampled or not by the default 1%")
          .matches("00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]");
      assertThat(h.get("x-request-id")).isNotBlank();
    } finally {
      echo();
    }
  }

  /**
   * Issue 18: route regexes run on RE2/J. {@code (.*a){12}} against 32 {@code a}s and a {@code !}
   * makes a backtracking engine try every way to split the {@code a}s into 12 groups
   * (java.util.regex on JDK 25 took 18.7 s for this header on this machine, and grows as n^12);
   * RE2 answers in linear time (48 ms including compilation), so the request that does not match
   * falls through to the next route at once.
   */
  @Test
  void catastrophicBacktrackingRegexOnAHeaderIsAnsweredAtOnce() throws Exception {
    mesh.apply("""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: payment-service, namespace: production}
        spec:
          hosts: [payment-service]
          http:
          - match: [{headers: {x-token: {regex: "(.*a){12}"}}}]
            directResponse: {status: 418, body: {string: "matched"}}
          - route: [{destination: {host: payment-service}}]
        """);
    try (TestClient.Http1 c = mesh.client(TestMesh.API_GATEWAY).http1(mesh.paymentVip())) {
      FullHttpRequest evil = get("/redos");
      evil.headers().set("x-token", "a".repeat(32) + "!");
      long start = System.nanoTime();
      FullHttpResponse r = c.send(evil);
      long millis = (System.nanoTime() - start) / 1_000_000;
      assertThat(r.status().code()).as("no match: the next route").isEqualTo(200);
      r.release();
      assertThat(millis).as("answered at once, not after a backtracking search").isLessThan(5_000);
      FullHttpRequest good = get("/redos");
      good.headers().set("x-token", "a".repeat(12));
      FullHttpResponse m = c.send(good);
      assertThat(m.status().code()).as("the regex still matches what it should").isEqualTo(418);
      m.release();
    } finally {
      mesh.apply("");
    }
  }

  @Test
  void rewriteRedirectDirectResponseAndHeaderOps() throws Exception {
    TestPod.Behaviour echoPath = (pod, req, ctx) -> TestPod.respond(ctx, req, 200,
        req.uri() + " host=" + req.headers().get("host") + " x-added=" + req.headers().get("x-added")
            + " x-gone=" + req.headers().get("x-gone"));
    v1.behaviour = echoPath;
    v2.behaviour = echoPath;
    mesh.apply("""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: payment-service, namespace: production}
        spec:
          hosts: [payment-service]
          http:
          - match: [{uri: {prefix: /old/}}]
            rewrite: {uri: /new/, authority: payments.internal}
            headers:
              request: {set: {x-added: "yes"}, remove: [x-gone]}
              response: {add: {x-served-by: waypoint}}
            route: [{destination: {host: payment-service}}]
          - match: [{uri: {exact: /moved}}]
            redirect: {uri: /here, redirectCode: 308}
          - match: [{uri: {exact: /teapot}}]
            directResponse: {status: 418, body: {string: "short and stout"}}
        """);
    try (TestClient.Http1 c = mesh.client(TestMesh.API_GATEWAY).http1(mesh.paymentVip())) {
      FullHttpRequest req = get("/old/items?id=3");
      req.headers().set("x-gone", "1");
      FullHttpResponse r = c.send(req);
      assertThat(TestClient.body(r)).isEqualTo("/new/items?id=3 host=payments.internal x-added=yes x-gone=null");
      assertThat(r.headers().get("x-served-by")).isEqualTo("waypoint");
      r.release();
      FullHttpResponse moved = c.send(get("/moved"));
      assertThat(moved.status().code()).isEqualTo(308);
      assertThat(moved.headers().get("location")).isEqualTo("http://payment-service/here");
      moved.release();
      FullHttpResponse tea = c.send(get("/teapot"));
      assertThat(tea.status().code()).isEqualTo(418);
      assertThat(TestClient.body(tea)).isEqualTo("short and stout");
      tea.release();
      FullHttpResponse none = c.send(get("/unrouted"));
      assertThat(none.status().code()).as("no route: 404 NR").isEqualTo(404);
      none.release();
    } finally {
      echo();
    }
  }

  /**
   * A client that is done ends its side of the tunnel (ztunnel relays the FIN of the app as
   * END_STREAM): the request sent with it is still answered, then the waypoint ends its side and
   * the tunnel closes — before, it stayed open until the HBONE connection went away.
   */
  @Test
  void clientHalfCloseIsAnsweredThenTheTunnelCloses() throws Exception {
    mesh.apply("");
    TestPod.Behaviour echoName = (pod, req, ctx) -> TestPod.respond(ctx, req, 200, pod.name);
    v1.behaviour = echoName;
    v2.behaviour = echoName;
    try (TestClient.Http1 c = mesh.client(TestMesh.API_GATEWAY).http1(mesh.paymentVip())) {
      FullHttpResponse first = c.send(get("/first"));
      assertThat(first.status().code()).isEqualTo(200);
      first.release();

      c.ch.writeAndFlush(get("/last"));
      dev.ambientj.hbone.TunnelChannels.shutdownOutput(c.ch);

      Object last = c.responses.poll(10, java.util.concurrent.TimeUnit.SECONDS);
      assertThat(last).isInstanceOf(FullHttpResponse.class);
      assertThat(((FullHttpResponse) last).status().code()).isEqualTo(200);
      ((FullHttpResponse) last).release();
      assertThat(c.closedWithin(10_000)).as("the waypoint closed the tunnel").isTrue();
    }
  }

  static FullHttpRequest get(String path) {
    FullHttpRequest r = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, path, Unpooled.EMPTY_BUFFER);
    r.headers().set(HttpHeaderNames.HOST, "payment-service");
    return r;
  }

  static final String DR = """
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: payment-service, namespace: production}
      spec:
        host: payment-service
        trafficPolicy:
          connectionPool:
            tcp: {maxConnections: 100}
            http: {h2UpgradePolicy: DEFAULT, http1MaxPendingRequests: 100, http2MaxRequests: 1000}
          outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 50}
        subsets:
        - {name: v1, labels: {version: v1}}
        - {name: v2, labels: {version: v2}}
      """;

  /** The seed's canary VirtualService (95/5, timeout 10s, retries 2 on 5xx,reset,connect-failure). */
  static final String SPLIT_VS = """
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: payment-service, namespace: production}
      spec:
        hosts: [payment-service]
        http:
        - name: canary
          route:
          - {destination: {host: payment-service, subset: v1}, weight: 95}
          - {destination: {host: payment-service, subset: v2}, weight: 5}
          timeout: 10s
          retries: {attempts: 2, retryOn: "5xx,reset,connect-failure"}
      """;

  static void echo() {
    TestPod.Behaviour echoName = (pod, req, ctx) -> TestPod.respond(ctx, req, 200, pod.name);
    v1.behaviour = echoName;
    v2.behaviour = echoName;
  }

  static int[] countVersions(TestClient.Http1 c, int n, java.util.function.Supplier<FullHttpRequest> req) throws Exception {
    int[] counts = new int[3];
    for (int i = 0; i < n; i++) {
      FullHttpResponse r = c.send(req.get());
      String b = TestClient.body(r);
      if (r.status().code() != 200) {
        counts[2]++;
      } else if (b.equals("payment-v1-0")) {
        counts[0]++;
      } else if (b.equals("payment-v2-0")) {
        counts[1]++;
      }
      r.release();
    }
    return counts;
  }

  @Test
  void seedSplit95to5Over2000Requests() throws Exception {
    echo();
    mesh.apply(DR + "---\n" + SPLIT_VS);
    try (TestClient.Http1 c = mesh.client(TestMesh.API_GATEWAY).http1(mesh.paymentVip())) {
      int[] counts = countVersions(c, 2000, () -> get("/pay"));
      System.out.printf("MEASURED split over 2000: v1=%d v2=%d errors=%d (v2 %.2f%%)%n", counts[0], counts[1], counts[2],
          counts[1] / 20.0);
      assertThat(counts[2]).isZero();
      assertThat(counts[1] / 2000.0).isBetween(0.03, 0.07);
      assertThat(c.ch.isActive()).as("one keep-alive connection for all 2000").isTrue();
    }
  }

  @Test
  void retriesTurnFiftyPercent503IntoSuccess() throws Exception {
    echo();
    java.util.concurrent.atomic.AtomicInteger n = new java.util.concurrent.atomic.AtomicInteger();
    TestPod.Behaviour flaky = (pod, req, ctx) -> TestPod.respond(ctx, req, n.incrementAndGet() % 2 == 0 ? 503 : 200, pod.name);
    v1.behaviour = flaky;
    v2.behaviour = flaky;
    mesh.apply(DR + "---\n" + SPLIT_VS);
    double retriesBefore = counted("envoy_cluster_upstream_rq_retry_total");
    try (TestClient.Http1 c = mesh.client(TestMesh.API_GATEWAY).http1(mesh.paymentVip())) {
      int[] counts = countVersions(c, 300, () -> get("/pay"));
      int ok = counts[0] + counts[1];
      assertThat(counted("envoy_cluster_upstream_rq_retry_total") - retriesBefore)
          .as("every retry is counted: one per 503 answered (%d)", n.get() / 2)
          .isEqualTo(n.get() / 2, org.assertj.core.data.Offset.offset(1.0));
      System.out.printf("MEASURED retries: %d/300 succeeded (%.2f%%), backend answered 503 to %d of %d tries%n", ok,
          ok / 3.0, n.get() / 2, n.get());
      assertThat(ok / 300.0).isGreaterThanOrEqualTo(0.99);
      assertThat(n.get()).isGreaterThan(400);
    }
  }

  @Test
  void routeTimeoutAnswers504() throws Exception {
    echo();
    v1.behaviour = (pod, req, ctx) -> ctx.executor().schedule(() -> TestPod.respond(ctx, req, 200, pod.name),
        2, java.util.concurrent.TimeUnit.SECONDS);
    mesh.apply(DR + "---\n" + """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: payment-service, namespace: production}
        spec:
          hosts: [payment-service]
          http:
          - route: [{destination: {host: payment-service, subset: v1}}]
            timeout: 300ms
        """);
    try (TestClient.Http1 c = mesh.client(TestMesh.API_GATEWAY).http1(mesh.paymentVip())) {
      long t0 = System.nanoTime();
      FullHttpResponse r = c.send(get("/slow"));
      long ms = (System.nanoTime() - t0) / 1_000_000;
      assertThat(r.status().code()).isEqualTo(504);
      assertThat(TestClient.body(r)).isEqualTo("upstream request timeout");
      assertThat(ms).isLessThan(1900);
      r.release();
    } finally {
      echo();
    }
  }

  @Test
  void seedFaultDelayAndAbort() throws Exception {
    echo();
    mesh.apply(DR + "---\n" + """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: payment-service, namespace: production}
        spec:
          hosts: [payment-service]
          http:
          - name: fault-test
            match:
            - headers: {x-fault-test: {exact: "true"}}
            fault:
              delay: {percentage: {value: 10}, fixedDelay: 500ms}
              abort: {percentage: {value: 5}, httpStatus: 503}
            route: [{destination: {host: payment-service}}]
          - name: canary
            route: [{destination: {host: payment-service, subset: v1}}]
        """);
    int total = 400;
    int aborted = 0;
    double delayedBefore = flagged("DI");
    java.util.List<TestClient.Http2> conns = new java.util.ArrayList<>();
    try {
      java.util.List<java.util.concurrent.CompletableFuture<long[]>> fs = new java.util.ArrayList<>();
      for (int k = 0; k < 4; k++) {
        TestClient.Http2 h2 = mesh.client(TestMesh.API_GATEWAY).http2(mesh.paymentVip());
        conns.add(h2);
        for (int i = 0; i < total / 4; i++) {
          fs.add(java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
              FullHttpRequest req = get("/pay");
              req.headers().set("x-fault-test", "true");
              long t0 = System.nanoTime();
              FullHttpResponse r = h2.send(req);
              long[] out = {r.status().code(), (System.nanoTime() - t0) / 1_000_000};
              r.release();
              return out;
            } catch (Exception e) {
              throw new RuntimeException(e);
            }
          }, POOL));
        }
      }
      for (var f : fs) {
        long[] res = f.get(60, java.util.concurrent.TimeUnit.SECONDS);
        if (res[0] == 503) {
          aborted++;
        }
      }
    } finally {
      conns.forEach(TestClient.Http2::close);
    }
    int delayed = (int) (flagged("DI") - delayedBefore);
    System.out.printf("MEASURED fault over %d: aborted(503)=%d (%.1f%%), delayed>=500ms=%d (%.1f%%)%n", total, aborted,
        aborted * 100.0 / total, delayed, delayed * 100.0 / total);
    assertThat(aborted).isBetween(4, 45);
    assertThat(delayed).isBetween(15, 70);
    try (TestClient.Http1 c = mesh.client(TestMesh.API_GATEWAY).http1(mesh.paymentVip())) {
      int[] counts = countVersions(c, 50, () -> get("/pay"));
      assertThat(counts[0]).as("without the header: the canary route, no fault").isEqualTo(50);
    }
  }

  /** The Prometheus family {@code name} summed over its series (0 when absent). */
  static double counted(String name) {
    double sum = 0;
    for (String line : mesh.waypoint.metrics().scrape().split("\n")) {
      if (line.startsWith(name + "{") || line.startsWith(name + " ")) {
        sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return sum;
  }

  /** istio_requests_total summed over series whose response_flags contain {@code flag}. */
  static double flagged(String flag) {
    double sum = 0;
    for (String line : mesh.waypoint.metrics().scrape().split("\n")) {
      if (line.startsWith("istio_requests_total{") && line.matches(".*response_flags=\"[^\"]*" + flag + "[^\"]*\".*")) {
        sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return sum;
  }

  static final java.util.concurrent.ExecutorService POOL = java.util.concurrent.Executors.newFixedThreadPool(64);

  @Test
  void endpointFailingFiveTimesIsEjectedAndComesBack() throws Exception {
    echo();
    v1.behaviour = (pod, req, ctx) -> TestPod.respond(ctx, req, 500, pod.name);
    mesh.apply("""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: payment-service, namespace: production}
        spec:
          host: payment-service
          trafficPolicy:
            loadBalancer: {simple: ROUND_ROBIN}
            outlierDetection: {consecutive5xxErrors: 5, interval: 1s, baseEjectionTime: 1s, maxEjectionPercent: 50}
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: payment-service, namespace: production}
        spec:
          hosts: [payment-service]
          http:
          - route: [{destination: {host: payment-service}}]
            retries: {attempts: 0}
        """);
    double ejectionsBefore = counted("envoy_cluster_outlier_detection_ejections_enforced_total");
    try (TestClient.Http1 c = mesh.client(TestMesh.API_GATEWAY).http1(mesh.paymentVip())) {
      int before = v1.requests.get();
      int[] counts = countVersions(c, 30, () -> get("/pay"));
      int v1Hits = v1.requests.get() - before;
      assertThat(v1Hits).as("v1 gets requests until its 5th consecutive 500, then is ejected").isEqualTo(5);
      assertThat(counted("envoy_cluster_outlier_detection_ejections_enforced_total") - ejectionsBefore)
          .as("the ejection is counted").isEqualTo(1.0);
      assertThat(counts[2]).isEqualTo(5);
      Thread.sleep(1200);
      v1.behaviour = (pod, req, ctx) -> TestPod.respond(ctx, req, 200, pod.name);
      int again = v1.requests.get();
      countVersions(c, 10, () -> get("/pay"));
      assertThat(v1.requests.get() - again).as("back after baseEjectionTime").isGreaterThan(0);
    } finally {
      echo();
    }
  }

  @Test
  void localRateLimitAnswers429WithRetryAfter() throws Exception {
    echo();
    mesh.apply("""
        apiVersion: networking.istio.io/v1alpha3
        kind: EnvoyFilter
        metadata: {name: payment-ratelimit-test, namespace: production}
        spec:
          workloadSelector:
            labels: {app: payment-service}
          configPatches:
          - applyTo: HTTP_FILTER
            match:
              context: SIDECAR_INBOUND
              listener: {filterChain: {filter: {name: envoy.filters.network.http_connection_manager}}}
            patch:
              operation: INSERT_BEFORE
              value:
                name: envoy.filters.http.local_ratelimit
                typed_config:
                  "@type": type.googleapis.com/udpa.type.v1.TypedStruct
                  type_url: type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit
                  value:
                    stat_prefix: http_local_rate_limiter
                    token_bucket: {max_tokens: 5, tokens_per_fill: 5, fill_interval: 60s}
        """);
    try (TestClient.Http1 c = mesh.client(TestMesh.API_GATEWAY).http1(mesh.paymentVip())) {
      for (int i = 0; i < 5; i++) {
        FullHttpResponse r = c.send(get("/pay"));
        assertThat(r.status().code()).isEqualTo(200);
        assertThat(r.headers().get("x-ratelimit-remaining")).isEqualTo(Integer.toString(4 - i));
        r.release();
      }
      FullHttpResponse r = c.send(get("/pay"));
      assertThat(r.status().code()).isEqualTo(429);
      assertThat(r.headers().getInt("retry-after")).isBetween(1, 60);
      assertThat(r.headers().get("x-ratelimit-limit")).isEqualTo("5");
      assertThat(r.headers().get("x-ratelimit-remaining")).isEqualTo("0");
      r.release();
    } finally {
      mesh.apply("");
    }
  }

  @Test
  void l7AuthorizationDeniesAPathAndOtherCallers() throws Exception {
    echo();
    mesh.apply("""
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: payment-access, namespace: production}
        spec:
          targetRefs: [{kind: Service, group: "", name: payment-service}]
          action: ALLOW
          rules:
          - from: [{source: {principals: ["cluster.local/ns/production/sa/api-gateway"]}}]
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: deny-admin, namespace: production}
        spec:
          targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: payment-waypoint}]
          action: DENY
          rules:
          - to: [{operation: {paths: ["/admin/*"], methods: ["GET", "POST"]}}]
        """);
    try (TestClient.Http1 c = mesh.client(TestMesh.API_GATEWAY).http1(mesh.paymentVip())) {
      FullHttpResponse ok = c.send(get("/pay"));
      assertThat(ok.status().code()).isEqualTo(200);
      ok.release();
      FullHttpResponse denied = c.send(get("/admin/users"));
      assertThat(denied.status().code()).isEqualTo(403);
      assertThat(TestClient.body(denied)).isEqualTo("RBAC: access denied");
      denied.release();
    }
    try (TestClient.Http1 c = mesh.client(TestMesh.ORDERS).http1(mesh.paymentVip())) {
      FullHttpResponse r = c.send(get("/pay"));
      assertThat(r.status().code()).as("orders is not api-gateway").isEqualTo(403);
      r.release();
    }
  }

  @Test
  void headerCanaryPrefixRouteAndMissingSubset() throws Exception {
    echo();
    mesh.apply(DR + "---\n" + """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: payment-service, namespace: production}
        spec:
          hosts: [payment-service]
          http:
          - name: canary-users
            match: [{headers: {x-canary-user: {exact: "true"}}}]
            route: [{destination: {host: payment-service, subset: v2}}]
          - name: api-v2
            match: [{uri: {prefix: /api/v2}}]
            route: [{destination: {host: payment-service, subset: v2}}]
          - name: broken
            match: [{uri: {prefix: /broken}}]
            route: [{destination: {host: payment-service, subset: v3}}]
          - name: stable
            route: [{destination: {host: payment-service, subset: v1}}]
        """);
    assertThat(mesh.waypoint.configProblems()).anyMatch(p -> p.contains("missing subset") && p.contains("v3"));
    try (TestClient.Http1 c = mesh.client(TestMesh.API_GATEWAY).http1(mesh.paymentVip())) {
      FullHttpRequest canary = get("/pay");
      canary.headers().set("x-canary-user", "true");
      assertThat(bodyOf(c, canary)).isEqualTo("payment-v2-0");
      assertThat(bodyOf(c, get("/api/v2/charge"))).isEqualTo("payment-v2-0");
      assertThat(bodyOf(c, get("/api/v1/charge"))).isEqualTo("payment-v1-0");
      assertThat(bodyOf(c, get("/pay"))).isEqualTo("payment-v1-0");
      FullHttpResponse broken = c.send(get("/broken"));
      assertThat(broken.status().code()).isEqualTo(503);
      broken.release();
    }
    assertThat(mesh.waypoint.metrics().scrape()).contains("response_flags=\"NC\"");
  }

  static String bodyOf(TestClient.Http1 c, FullHttpRequest req) throws Exception {
    FullHttpResponse r = c.send(req);
    try {
      return TestClient.body(r);
    } finally {
      r.release();
    }
  }

  @Test
  void http2PriorKnowledgeToAnHttp1Backend() throws Exception {
    echo();
    mesh.apply(DR + "---\n" + SPLIT_VS);
    try (TestClient.Http2 h2 = mesh.client(TestMesh.API_GATEWAY).http2(mesh.paymentVip())) {
      for (int i = 0; i < 5; i++) {
        FullHttpResponse r = h2.send(get("/h2"));
        assertThat(r.status().code()).isEqualTo(200);
        assertThat(TestClient.body(r)).startsWith("payment-v");
        r.release();
      }
    }
  }

  @Test
  void badInputGets400And431AndGoawayAndTheWaypointKeepsServing() throws Exception {
    echo();
    mesh.apply("");
    try (TestClient.Http1 c = mesh.client(TestMesh.API_GATEWAY).http1(mesh.paymentVip())) {
      c.ch.pipeline().context(io.netty.handler.codec.http.HttpClientCodec.class).writeAndFlush(Unpooled.copiedBuffer("BAD REQUEST LINE!\r\n\r\n", StandardCharsets.US_ASCII));
      Object o = c.responses.poll(10, java.util.concurrent.TimeUnit.SECONDS);
      assertThat(o).isInstanceOf(FullHttpResponse.class);
      assertThat(((FullHttpResponse) o).status().code()).isEqualTo(400);
      ((FullHttpResponse) o).release();
      assertThat(c.closedWithin(5000)).isTrue();
    }
    try (TestClient.Http1 c = mesh.client(TestMesh.API_GATEWAY).http1(mesh.paymentVip())) {
      FullHttpRequest big = get("/big");
      big.headers().set("x-big", "a".repeat(70 * 1024));
      FullHttpResponse r = c.send(big);
      assertThat(r.status().code()).isEqualTo(431);
      r.release();
    }
    io.netty.channel.Channel raw = mesh.client(TestMesh.API_GATEWAY).tunnel(mesh.paymentVip());
    java.util.concurrent.BlockingQueue<byte[]> got = new java.util.concurrent.LinkedBlockingQueue<>();
    raw.pipeline().addLast(new io.netty.channel.ChannelInboundHandlerAdapter() {
      @Override
      public void channelRead(io.netty.channel.ChannelHandlerContext ctx, Object msg) {
        io.netty.buffer.ByteBuf b = (io.netty.buffer.ByteBuf) msg;
        byte[] bytes = new byte[b.readableBytes()];
        b.readBytes(bytes);
        b.release();
        got.add(bytes);
      }
    });
    raw.config().setAutoRead(true);
    raw.writeAndFlush(Unpooled.copiedBuffer("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", StandardCharsets.US_ASCII));
    java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
    long deadline = System.nanoTime() + 5_000_000_000L;
    boolean goaway = false;
    while (!goaway && System.nanoTime() < deadline) {
      byte[] b = got.poll(200, java.util.concurrent.TimeUnit.MILLISECONDS);
      if (b != null) {
        all.write(b);
        goaway = containsGoaway(all.toByteArray());
      }
    }
    raw.close();
    System.out.println("PREFACE REPLY " + io.netty.buffer.ByteBufUtil.hexDump(all.toByteArray()));
    assertThat(goaway).as("GOAWAY frame in the reply to a bad preface").isTrue();
    try (TestClient.Http1 c = mesh.client(TestMesh.API_GATEWAY).http1(mesh.paymentVip())) {
      FullHttpResponse r = c.send(get("/still-here"));
      assertThat(r.status().code()).isEqualTo(200);
      r.release();
    }
  }

  /** Walks HTTP/2 frames (9-byte headers) looking for type 0x7. */
  static boolean containsGoaway(byte[] b) {
    int i = 0;
    while (i + 9 <= b.length) {
      int len = ((b[i] & 0xff) << 16) | ((b[i + 1] & 0xff) << 8) | (b[i + 2] & 0xff);
      if (b[i + 3] == 0x7) {
        return true;
      }
      i += 9 + len;
    }
    return false;
  }

  @Test
  void tcpPortIsProxiedAtL4() throws Exception {
    echo();
    mesh.apply("");
    io.netty.channel.Channel t = mesh.client(TestMesh.API_GATEWAY).tunnel(mesh.ip("10.20") + ":7000");
    TestClient.Http1 c = new TestClient.Http1(t);
    FullHttpResponse r = c.send(get("/raw"));
    assertThat(r.status().code()).isEqualTo(200);
    assertThat(r.headers().get("x-ratelimit-limit")).isNull();
    r.release();
    c.close();
    mesh.apply("""
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: only-orders, namespace: production}
        spec:
          targetRefs: [{kind: Service, group: "", name: payment-service}]
          rules: [{from: [{source: {principals: ["cluster.local/ns/production/sa/orders"]}}]}]
        """);
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> mesh.client(TestMesh.API_GATEWAY).tunnel(mesh.ip("10.20") + ":7000"))
        .as("L4 authorization at the waypoint").hasMessageContaining("401");
    mesh.apply("");
  }

  @Test
  void unknownAuthorityIsRefused() {
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> mesh.client(TestMesh.API_GATEWAY).tunnel(mesh.ip("10.99") + ":80"))
        .hasMessageContaining("503");
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> mesh.client(TestMesh.API_GATEWAY).tunnel(mesh.ip("1.10") + ":80"))
        .as("a known pod that is not bound to this waypoint").hasMessageContaining("400");
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> mesh.client(TestMesh.API_GATEWAY).tunnel(mesh.ip("10.20") + ":81"))
        .as("a bound service without that port").hasMessageContaining("503");
  }

  /** A gRPC server: unary SayHello (one message) and server-streaming SayHellos (three), each ending with trailers. */
  static void grpcServer(TestPod pod, FullHttpRequest req, io.netty.channel.ChannelHandlerContext ctx) {
    int n = req.uri().endsWith("/SayHellos") ? 3 : 1;
    String name = req.content().toString(5, req.content().readableBytes() - 5, StandardCharsets.UTF_8);
    var head = new io.netty.handler.codec.http.DefaultHttpResponse(HttpVersion.HTTP_1_1,
        io.netty.handler.codec.http.HttpResponseStatus.OK);
    head.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/grpc");
    ctx.writeAndFlush(head);
    for (int i = 0; i < n; i++) {
      ctx.writeAndFlush(new io.netty.handler.codec.http.DefaultHttpContent(grpcFrame("hello " + name + " #" + i)));
    }
    var end = new io.netty.handler.codec.http.DefaultLastHttpContent();
    end.trailingHeaders().set("grpc-status", "0");
    ctx.writeAndFlush(end);
  }

  static io.netty.buffer.ByteBuf grpcFrame(String msg) {
    byte[] b = msg.getBytes(StandardCharsets.UTF_8);
    return Unpooled.buffer().writeByte(0).writeInt(b.length).writeBytes(b);
  }

  static FullHttpRequest grpcCall(String method, String name) {
    FullHttpRequest r = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, "/greeter.Greeter/" + method,
        grpcFrame(name));
    r.headers().set(HttpHeaderNames.HOST, "greeter.production.svc.cluster.local:9000");
    r.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/grpc");
    r.headers().set(HttpHeaderNames.TE, "trailers");
    return r;
  }

  @Test
  void grpcUnaryAndServerStreamingThroughTheWaypoint() throws Exception {
    mesh.apply("");
    try (TestClient.Http2 h2 = mesh.client(TestMesh.API_GATEWAY).http2(mesh.greeterVip())) {
      java.util.List<io.netty.handler.codec.http.HttpObject> unary = h2.stream(grpcCall("SayHello", "ada"));
      assertThat(unary.get(0)).isInstanceOf(io.netty.handler.codec.http.HttpResponse.class);
      StringBuilder body = new StringBuilder();
      String status = null;
      for (var o : unary) {
        if (o instanceof io.netty.handler.codec.http.HttpContent c) {
          body.append(c.content().toString(StandardCharsets.ISO_8859_1));
        }
        if (o instanceof io.netty.handler.codec.http.LastHttpContent l) {
          status = l.trailingHeaders().get("grpc-status");
        }
        io.netty.util.ReferenceCountUtil.release(o);
      }
      assertThat(body.toString()).contains("hello ada #0");
      assertThat(status).isEqualTo("0");

      java.util.List<io.netty.handler.codec.http.HttpObject> streamed = h2.stream(grpcCall("SayHellos", "bob"));
      int messages = 0;
      String streamStatus = null;
      StringBuilder all = new StringBuilder();
      for (var o : streamed) {
        if (o instanceof io.netty.handler.codec.http.HttpContent c && c.content().isReadable()) {
          messages++;
          all.append(c.content().toString(StandardCharsets.ISO_8859_1));
        }
        if (o instanceof io.netty.handler.codec.http.LastHttpContent l) {
          streamStatus = l.trailingHeaders().get("grpc-status");
        }
        io.netty.util.ReferenceCountUtil.release(o);
      }
      assertThat(messages).isGreaterThanOrEqualTo(1);
      assertThat(all.toString()).contains("hello bob #0").contains("hello bob #1").contains("hello bob #2");
      assertThat(streamStatus).isEqualTo("0");
      int connects = greeter.connects.get();
      for (int i = 0; i < 5; i++) {
        for (var o : h2.stream(grpcCall("SayHello", "again"))) {
          io.netty.util.ReferenceCountUtil.release(o);
        }
      }
      assertThat(greeter.connects.get() - connects).as("calls share one upstream HTTP/2 connection").isZero();
    }
  }

  @Test
  void grpcFaultAbortAnswersWithGrpcStatus() throws Exception {
    mesh.apply("""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: greeter, namespace: production}
        spec:
          hosts: [greeter]
          http:
          - match: [{headers: {x-fail: {exact: "yes"}}}]
            fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}
            route: [{destination: {host: greeter}}]
          - route: [{destination: {host: greeter}}]
        """);
    try (TestClient.Http2 h2 = mesh.client(TestMesh.API_GATEWAY).http2(mesh.greeterVip())) {
      FullHttpRequest req = grpcCall("SayHello", "x");
      req.headers().set("x-fail", "yes");
      FullHttpResponse r = h2.send(req);
      assertThat(r.status().code()).isEqualTo(200);
      String gs = r.headers().get("grpc-status") != null ? r.headers().get("grpc-status") : r.trailingHeaders().get("grpc-status");
      assertThat(gs).isEqualTo("14");
      r.release();
    }
  }

  @Test
  void connectionPoolOverflowAnswers503WithFlagUO() throws Exception {
    echo();
    v1.behaviour = (pod, req, ctx) -> ctx.executor().schedule(() -> TestPod.respond(ctx, req, 200, pod.name),
        400, java.util.concurrent.TimeUnit.MILLISECONDS);
    mesh.apply("""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: payment-service, namespace: production}
        spec:
          host: payment-service
          trafficPolicy:
            connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}
          subsets: [{name: v1, labels: {version: v1}}]
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: payment-service, namespace: production}
        spec:
          hosts: [payment-service]
          http:
          - route: [{destination: {host: payment-service, subset: v1}}]
            retries: {attempts: 0}
        """);
    double before = flagged("UO");
    try (TestClient.Http2 h2 = mesh.client(TestMesh.API_GATEWAY).http2(mesh.paymentVip())) {
      java.util.List<java.util.concurrent.CompletableFuture<Integer>> fs = new java.util.ArrayList<>();
      for (int i = 0; i < 4; i++) {
        fs.add(java.util.concurrent.CompletableFuture.supplyAsync(() -> {
          try {
            FullHttpResponse r = h2.send(get("/pool"));
            int code = r.status().code();
            r.release();
            return code;
          } catch (Exception e) {
            throw new RuntimeException(e);
          }
        }, POOL));
      }
      int ok = 0;
      int overflow = 0;
      for (var f : fs) {
        int code = f.get(30, java.util.concurrent.TimeUnit.SECONDS);
        if (code == 200) {
          ok++;
        } else if (code == 503) {
          overflow++;
        }
      }
      assertThat(ok).as("one in flight, one pending").isGreaterThanOrEqualTo(2);
      assertThat(overflow).isGreaterThanOrEqualTo(1);
      assertThat(flagged("UO") - before).isEqualTo(overflow);
    } finally {
      echo();
    }
  }

  @Test
  void defaultRouteServesBothVersions() throws Exception {
    mesh.apply("");
    try (TestClient.Http1 c = mesh.client(TestMesh.API_GATEWAY).http1(mesh.paymentVip())) {
      FullHttpRequest req = get("/hello");
      req.headers().set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
      FullHttpResponse r = c.send(req);
      assertThat(r.status().code()).isEqualTo(200);
      assertThat(TestClient.body(r)).startsWith("payment-v");
      r.release();
    }
    String scrape = mesh.waypoint.metrics().scrape();
    assertThat(scrape).contains("istio_requests_total{").contains("istio_request_duration_milliseconds_bucket{")
        .contains("istio_request_bytes_bucket{").contains("istio_response_bytes_bucket{")
        .contains("reporter=\"waypoint\"")
        .contains("source_principal=\"spiffe://cluster.local/ns/production/sa/api-gateway\"")
        .contains("destination_service=\"payment-service.production.svc.cluster.local\"")
        .contains("destination_workload=\"payment-v");
  }
}
