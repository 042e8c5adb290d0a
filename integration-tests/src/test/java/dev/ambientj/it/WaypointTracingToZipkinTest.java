package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.launcher.demo.HttpOverSocks;
import dev.ambientj.launcher.demo.HttpOverSocks.Response;
import dev.ambientj.waypoint.Waypoint;
import dev.ambientj.waypoint.telemetry.TracingSettings;
import io.netty.handler.codec.http.HttpHeaders;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The waypoint's spans in a real trace store (issue 20, "Traces"): Zipkin's own server, started by
 * the test, receives what the waypoint exports, and each trace is read back through Zipkin's API.
 *
 * <pre>
 * client (a chosen traceparent / b3) ──SOCKS5──▶ ztunnel node-a ──HBONE──▶ payment-waypoint
 *        ──HBONE──▶ ztunnel node-b ──▶ payment-v1-0 / payment-v2-0 (they record the headers they get)
 * </pre>
 *
 * <p>The waypoint's own sampling for new traces is 0 %, so only the client's decision exports a
 * trace. Checked: the SERVER span's parent is the client's span, the CLIENT span's parent is the
 * SERVER span, the upstream's {@code traceparent} has the CLIENT span as parent, Istio's span tags;
 * a retried request has two CLIENT spans; a not-sampled request exports nothing and tells the
 * upstream so; the single {@code b3} header is continued; and {@code ./mesh waypoint} as a process
 * exports where {@code OTEL_EXPORTER_ZIPKIN_ENDPOINT} says, sampling as a {@code Telemetry} says.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class WaypointTracingToZipkinTest {
  private static final String P = "127.171";
  private static final String PAYMENT = "payment-service.production.svc.cluster.local";
  private static final Duration WITHIN = Duration.ofSeconds(30);

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
        - name: flaky
          match:
          - uri:
              prefix: /flaky
          route:
          - destination:
              host: payment-service
              subset: v2
          retries:
            attempts: 2
            retryOn: 5xx
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
        subsets:
        - name: v1
          labels:
            version: v1
        - name: v2
          labels:
            version: v2
      """;

  private ZipkinServer zipkin;
  private Mesh mesh;
  private InetSocketAddress socks;
  private ControllableHttpBackend v1;
  private ControllableHttpBackend v2;

  @BeforeAll
  void start() throws Exception {
    long t0 = System.nanoTime();
    zipkin = ZipkinServer.start(Duration.ofSeconds(60));
    System.out.printf("tracing: Zipkin up in %d ms at %s%n",
        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0), zipkin.spansEndpoint());
    mesh = Mesh.fromYaml(TestMeshes.example(P) + TestMeshes.relocate(POLICIES, P));
    mesh.node("node-a").ztunnel();
    mesh.node("node-b").ztunnel();
    v1 = ControllableHttpBackend.start(mesh, "payment-v1-0", 8080);
    v2 = ControllableHttpBackend.start(mesh, "payment-v2-0", 8080);
    SnapshotPublisher config = new SnapshotPublisher();
    config.publish(mesh.snapshot());
    mesh.own(Waypoint.builder().name("payment-waypoint").namespace("production")
        .config(config)
        .identityProvider(mesh.ca().asIdentityProvider(Duration.ofHours(1)))
        .transport(mesh.transport())
        .eventLoopGroup(mesh.group())
        .tracing(TracingSettings.defaults().withZipkin(zipkin.spansEndpoint())
            .withScheduleDelay(Duration.ofMillis(200)).withDefaultSamplingPercentage(0))
        .build()
        .start());
    socks = mesh.workload("api-gateway-0").socks();
  }

  @AfterAll
  void stop() throws Exception {
    if (mesh != null) {
      mesh.close();
    }
    if (zipkin != null) {
      zipkin.close();
    }
  }

  private static String hex(int bytes) {
    byte[] b = new byte[bytes];
    ThreadLocalRandom.current().nextBytes(b);
    b[0] |= 1; // never all zero
    return HexFormat.of().formatHex(b);
  }

  private Response get(String path, Map<String, String> headers) throws Exception {
    // from the client pod's own address, so that the waypoint knows the source workload
    try (HttpOverSocks http = HttpOverSocks.open(socks, PAYMENT, 80, Mesh.TIMEOUT, socks.getAddress())) {
      return http.get(path, headers);
    }
  }

  private static JsonNode only(List<JsonNode> spans, String kind) {
    List<JsonNode> of = spans.stream().filter(s -> kind.equals(s.path("kind").asText())).toList();
    assertThat(of).as("%s spans in %s", kind, spans).hasSize(1);
    return of.get(0);
  }

  private static String tag(JsonNode span, String name) {
    return span.path("tags").path(name).asText(null);
  }

  @Test
  void oneRequestIsOneTraceFromTheClientThroughTheWaypointToTheUpstream() throws Exception {
    String trace = hex(16);
    String clientSpan = hex(8);
    v1.headers.clear();
    Response r = get("/pay/1", Map.of("traceparent", "00-" + trace + "-" + clientSpan + "-01"));
    assertThat(r.status()).as(r.body()).isEqualTo(200);
    HttpHeaders upstream = v1.headers.poll(5, TimeUnit.SECONDS);
    assertThat(upstream).isNotNull();

    List<JsonNode> spans = zipkin.awaitTrace(trace, 2, WITHIN);
    JsonNode server = only(spans, "SERVER");
    JsonNode client = only(spans, "CLIENT");
    System.out.println("tracing: server span " + server);
    System.out.println("tracing: client span " + client);

    assertThat(server.path("parentId").asText()).as("the waypoint continues the client's span").isEqualTo(clientSpan);
    assertThat(client.path("parentId").asText()).as("the try is a child of the request").isEqualTo(
        server.path("id").asText());
    assertThat(upstream.get("traceparent")).as("the upstream's parent is the CLIENT span")
        .isEqualTo("00-" + trace + "-" + client.path("id").asText() + "-01");
    assertThat(upstream.get("x-b3-parentspanid")).isEqualTo(server.path("id").asText());

    assertThat(server.path("name").asText()).isEqualTo(PAYMENT + ":80/*");
    assertThat(server.path("localEndpoint").path("serviceName").asText()).isEqualTo("payment-waypoint.production");
    assertThat(tag(server, "component")).isEqualTo("proxy");
    assertThat(tag(server, "http.method")).isEqualTo("GET");
    assertThat(tag(server, "http.status_code")).isEqualTo("200");
    assertThat(tag(server, "http.url")).endsWith("/pay/1");
    assertThat(tag(server, "response_flags")).isEqualTo("-");
    assertThat(tag(server, "guid:x-request-id")).isEqualTo(upstream.get("x-request-id"));
    assertThat(tag(server, "node_id")).startsWith("router~" + P + ".1.30~payment-waypoint.production~");
    assertThat(tag(server, "istio.mesh_id")).isEqualTo("cluster.local");
    assertThat(tag(server, "istio.namespace")).isEqualTo("production");
    assertThat(tag(server, "istio.canonical_service")).isEqualTo("payment-waypoint");
    assertThat(tag(server, "istio.source_workload")).isEqualTo("api-gateway-0"); // no owner: the pod
    assertThat(tag(server, "istio.source_namespace")).isEqualTo("production");
    assertThat(tag(server, "istio.source_canonical_service")).isEqualTo("api-gateway");
    assertThat(tag(server, "istio.source_principal")).isEqualTo("spiffe://cluster.local/ns/production/sa/api-gateway");
    assertThat(tag(server, "istio.destination_workload")).isEqualTo("payment-v1-0");
    assertThat(tag(server, "istio.destination_canonical_service")).isEqualTo("payment-service");
    assertThat(tag(server, "istio.destination_namespace")).isEqualTo("production");
    assertThat(tag(server, "upstream_cluster")).isEqualTo("outbound|80|v1|" + PAYMENT);
    assertThat(tag(server, "error")).isNull();
    assertThat(tag(client, "http.status_code")).isEqualTo("200");
    assertThat(tag(client, "upstream_address")).isEqualTo(P + ".2.20:8080");
    assertThat(tag(client, "istio.destination_workload")).isEqualTo("payment-v1-0");
    assertThat(client.path("name").asText()).isEqualTo("router outbound|80|v1|" + PAYMENT + " egress");
  }

  @Test
  void aRetriedRequestHasOneClientSpanPerTry() throws Exception {
    synchronized (v2) {
      // v2 answers /flaky with 200, 503, 200, ...: make the next try the 503
      if (v2.flaky.get() % 2 == 0) {
        assertThat(get("/flaky/warm-up", Map.of()).status()).isEqualTo(200);
      }
      String trace = hex(16);
      Response r = get("/flaky/1", Map.of("traceparent", "00-" + trace + "-" + hex(8) + "-01"));
      assertThat(r.status()).as("the retry succeeded: %s", r.body()).isEqualTo(200);
      List<JsonNode> spans = zipkin.awaitTrace(trace, 3, WITHIN);
      JsonNode server = only(spans, "SERVER");
      List<JsonNode> clients = spans.stream().filter(s -> "CLIENT".equals(s.path("kind").asText())).toList();
      assertThat(clients).hasSize(2);
      assertThat(clients).allSatisfy(c ->
          assertThat(c.path("parentId").asText()).isEqualTo(server.path("id").asText()));
      assertThat(clients).extracting(c -> tag(c, "http.status_code")).containsExactlyInAnyOrder("503", "200");
      assertThat(clients).filteredOn(c -> "503".equals(tag(c, "http.status_code")))
          .allSatisfy(c -> assertThat(tag(c, "error")).isEqualTo("true"));
      assertThat(tag(server, "http.status_code")).isEqualTo("200");
    }
  }

  @Test
  void aNotSampledRequestExportsNothingAndTellsTheUpstream() throws Exception {
    String dropped = hex(16);
    v1.headers.clear();
    assertThat(get("/pay/unsampled", Map.of("traceparent", "00-" + dropped + "-" + hex(8) + "-00")).status())
        .isEqualTo(200);
    HttpHeaders upstream = v1.headers.poll(5, TimeUnit.SECONDS);
    assertThat(upstream.get("traceparent")).as("same trace, not sampled").startsWith("00-" + dropped + "-")
        .endsWith("-00");
    assertThat(upstream.get("x-b3-sampled")).isEqualTo("0");
    // A sampled request after it: once that one is in Zipkin, the first one would be too (one queue, in order).
    String kept = hex(16);
    assertThat(get("/pay/sampled", Map.of("traceparent", "00-" + kept + "-" + hex(8) + "-01")).status())
        .isEqualTo(200);
    zipkin.awaitTrace(kept, 2, WITHIN);
    assertThat(zipkin.trace(dropped)).as("nothing of the not-sampled request").isEmpty();

    v1.headers.clear();
    assertThat(get("/pay/no-context", Map.of()).status()).isEqualTo(200);
    HttpHeaders fresh = v1.headers.poll(5, TimeUnit.SECONDS);
    assertThat(fresh.get("traceparent")).as("a new trace, not sampled at 0 %%")
        .matches("00-[0-9a-f]{32}-[0-9a-f]{16}-00");
  }

  /**
   * {@code ./mesh waypoint} as its own process, configured as an operator would: the Zipkin endpoint
   * in {@code OTEL_EXPORTER_ZIPKIN_ENDPOINT}, the sampling in a {@code Telemetry} resource of the
   * config file (100 % mesh-wide); a request with no trace context starts a sampled trace there.
   */
  @Test
  void theWaypointProcessSamplesAsTheTelemetryResourceSaysAndExportsWhereItsEnvironmentSays(@TempDir Path dir)
      throws Exception {
    String q = "127.172";
    String telemetry = """
        ---
        apiVersion: telemetry.istio.io/v1
        kind: Telemetry
        metadata:
          name: mesh-default
          namespace: istio-system
        spec:
          tracing:
          - randomSamplingPercentage: 100
        """;
    try (Mesh other = WaypointProcess.twoNodeMesh(TestMeshes.example(q) + telemetry, dir)) {
      ControllableHttpBackend b1 = ControllableHttpBackend.start(other, "payment-v1-0", 8080);
      ControllableHttpBackend b2 = ControllableHttpBackend.start(other, "payment-v2-0", 8080);
      other.own(WaypointProcess.start(dir.resolve("mesh.yaml"), dir, "production", "payment-waypoint", q + ".1.30",
          List.of(), Map.of(TracingSettings.ZIPKIN_ENV, zipkin.spansEndpoint(), TracingSettings.DELAY_ENV, "200")));
      InetSocketAddress clientSocks = other.workload("api-gateway-0").socks();
      WaypointProcess.awaitServing(clientSocks, PAYMENT);
      b1.headers.clear();
      b2.headers.clear();
      try (HttpOverSocks http = HttpOverSocks.open(clientSocks, PAYMENT, 80, Mesh.TIMEOUT, clientSocks.getAddress())) {
        assertThat(http.get("/no-context", Map.of()).status()).isEqualTo(200);
      }
      HttpHeaders upstream = null;
      for (long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(5); upstream == null && System.nanoTime() < end;) {
        upstream = b1.headers.poll(50, TimeUnit.MILLISECONDS);
        if (upstream == null) {
          upstream = b2.headers.poll(50, TimeUnit.MILLISECONDS);
        }
      }
      assertThat(upstream).as("the request reached a payment pod").isNotNull();
      String traceparent = upstream.get("traceparent");
      assertThat(traceparent).as("a new trace, sampled at the Telemetry's 100 %%")
          .matches("00-[0-9a-f]{32}-[0-9a-f]{16}-01");
      List<JsonNode> spans = zipkin.awaitTrace(traceparent.substring(3, 35), 2, WITHIN);
      JsonNode server = only(spans, "SERVER");
      assertThat(server.path("parentId").isMissingNode()).as("the waypoint started the trace: %s", server).isTrue();
      assertThat(only(spans, "CLIENT").path("id").asText()).isEqualTo(traceparent.substring(36, 52));
      assertThat(tag(server, "node_id")).startsWith("router~" + q + ".1.30~");
    }
  }

  @Test
  void theSingleB3HeaderIsContinued() throws Exception {
    String trace = hex(16);
    String caller = hex(8);
    v1.headers.clear();
    assertThat(get("/pay/b3", Map.of("b3", trace + "-" + caller + "-1")).status()).isEqualTo(200);
    HttpHeaders upstream = v1.headers.poll(5, TimeUnit.SECONDS);
    List<JsonNode> spans = zipkin.awaitTrace(trace, 2, WITHIN);
    JsonNode server = only(spans, "SERVER");
    JsonNode client = only(spans, "CLIENT");
    assertThat(server.path("parentId").asText()).isEqualTo(caller);
    assertThat(upstream.get("b3")).as("rewritten for the next hop")
        .isEqualTo(trace + "-" + client.path("id").asText() + "-1-" + server.path("id").asText());
    assertThat(upstream.get("traceparent")).isEqualTo("00-" + trace + "-" + client.path("id").asText() + "-01");
  }
}
