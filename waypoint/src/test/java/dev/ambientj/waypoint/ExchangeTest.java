package dev.ambientj.waypoint;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.WaypointRef;
import dev.ambientj.hbone.ConnectTarget;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.waypoint.cluster.ClusterManager;
import dev.ambientj.waypoint.filter.ratelimit.RateLimiter;
import dev.ambientj.waypoint.telemetry.Telemetry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import dev.ambientj.waypoint.telemetry.ListenerStats;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The request state machine on embedded channels: the downstream connection is an
 * {@link EmbeddedChannel} whose event loop is the scheduler (timeouts and backoff advance with
 * {@code advanceTimeBy}, no sleeping), and every upstream tunnel is an EmbeddedChannel the test
 * answers by hand.
 */
class ExchangeTest {
  final AtomicLong now = new AtomicLong(1_000_000_000L);
  final List<EmbeddedChannel> tunnels = new ArrayList<>();
  final List<ConnectTarget> targets = new ArrayList<>();
  final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  boolean failConnects;
  /** {@code numTrustedProxies} of the next {@link #start}. */
  int trustedProxies;
  EmbeddedChannel down;
  /** The text of the last request {@link #answer} answered. */
  String lastUpstreamRequest;

  @AfterEach
  void cleanUp() {
    if (down != null) {
      down.finishAndReleaseAll();
    }
    tunnels.forEach(EmbeddedChannel::finishAndReleaseAll);
  }

  EmbeddedChannel start(String policies) throws Exception {
    MeshSnapshot snap = TestMesh.snapshot(policies);
    WaypointRuntime rt = new WaypointRuntime((target, loop) -> connect(target), new Telemetry(registry, "Kubernetes"),
        dev.ambientj.waypoint.telemetry.Tracing.notExported(registry), now::get,
        new Random(1), 1 << 20, new StreamBuffers(StreamBuffers.DEFAULT_STREAM_BYTES),
        new DownstreamLimits(Duration.ofSeconds(10), Duration.ofHours(1), 100, new ListenerStats(registry)),
        Waypoint.DEFAULT_DRAIN_DEADLINE);
    rt.identity = SpiffeId.parse("spiffe://cluster.local/ns/production/sa/payment-waypoint");
    rt.numTrustedProxies = trustedProxies;
    rt.config.set(WaypointConfig.compile(snap, new WaypointRef("production", "payment-waypoint"), new ClusterManager(),
        new RateLimiter(now::get)));
    DownstreamInfo info = new DownstreamInfo(SpiffeId.parse("spiffe://cluster.local/ns/production/sa/api-gateway"),
        new InetSocketAddress("127.99.1.10", 40000), null, InetAddress.getByName("127.99.10.20"), 80);
    down = new EmbeddedChannel(new HttpServerCodec(), new HttpObjectAggregator(1 << 20),
        new HttpProxyHandler(rt, info, new Http1Deadlines(rt, info)));
    down.freezeTime();
    return down;
  }

  CompletableFuture<Channel> connect(ConnectTarget t) {
    targets.add(t);
    if (failConnects) {
      return CompletableFuture.failedFuture(new java.io.IOException("connection refused"));
    }
    EmbeddedChannel ch = new EmbeddedChannel();
    ch.config().setAutoRead(false);
    tunnels.add(ch);
    return CompletableFuture.completedFuture(ch);
  }

  void request(String path) {
    down.writeInbound(Unpooled.copiedBuffer("GET " + path + " HTTP/1.1\r\nHost: payment-service\r\n\r\n",
        StandardCharsets.US_ASCII));
    drain();
  }

  /** Answers the newest tunnel's request with {@code status}. */
  void answer(int status) {
    EmbeddedChannel t = tunnels.get(tunnels.size() - 1);
    ByteBuf req = t.readOutbound();
    assertThat(req).as("a request was sent upstream").isNotNull();
    lastUpstreamRequest = req.toString(StandardCharsets.US_ASCII);
    req.release();
    String body = "s" + status;
    t.writeInbound(Unpooled.copiedBuffer("HTTP/1.1 " + status + " X\r\nContent-Length: " + body.length() + "\r\n\r\n"
        + body, StandardCharsets.US_ASCII));
    drain();
  }

  /** Runs queued tasks, including those that due scheduled tasks queue in turn. */
  void drain() {
    for (int i = 0; i < 4; i++) {
      down.runPendingTasks();
    }
  }

  void advance(long millis) {
    now.addAndGet(millis * 1_000_000L);
    down.advanceTimeBy(millis, TimeUnit.MILLISECONDS);
    drain();
  }

  FullHttpResponse response() {
    EmbeddedChannel client = new EmbeddedChannel(new HttpClientCodec(), new HttpObjectAggregator(1 << 20));
    client.writeOutbound(new io.netty.handler.codec.http.DefaultFullHttpRequest(io.netty.handler.codec.http.HttpVersion.HTTP_1_1,
        io.netty.handler.codec.http.HttpMethod.GET, "/"));
    Object o;
    while ((o = client.readOutbound()) != null) {
      io.netty.util.ReferenceCountUtil.release(o);
    }
    List<ByteBuf> parts = new ArrayList<>();
    ByteBuf b;
    while ((b = down.readOutbound()) != null) {
      parts.add(b);
    }
    ByteBuf all = Unpooled.buffer();
    for (ByteBuf p : parts) {
      all.writeBytes(p, p.readerIndex(), p.readableBytes());
    }
    for (ByteBuf p : parts) {
      if (p.refCnt() > 0) {
        p.release(); // the encoder's buffers may share one reference count
      }
    }
    client.writeInbound(all);
    FullHttpResponse r = client.readInbound();
    client.finishAndReleaseAll();
    return r;
  }

  static final String VS = """
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: payment-service, namespace: production}
      spec:
        hosts: [payment-service]
        http:
        - route: [{destination: {host: payment-service}}]
          %s
      """;

  static final String TELEMETRY = """
      apiVersion: telemetry.istio.io/v1
      kind: Telemetry
      metadata: {name: tracing, namespace: production}
      spec:
        tracing:
        - randomSamplingPercentage: %s
      """;

  @Test
  void aTelemetryAt100PercentSamplesANewTrace() throws Exception {
    start(TELEMETRY.formatted("100"));
    request("/new-trace");
    answer(200);
    assertThat(lastUpstreamRequest).containsPattern("traceparent: 00-[0-9a-f]{32}-[0-9a-f]{16}-01\r\n")
        .contains("x-b3-sampled: 1");
    response().release();
  }

  @Test
  void aTelemetryAt0PercentSamplesNoNewTraceButHonoursACallersSampledFlag() throws Exception {
    start(TELEMETRY.formatted("0"));
    request("/new-trace");
    answer(200);
    assertThat(lastUpstreamRequest).containsPattern("traceparent: 00-[0-9a-f]{32}-[0-9a-f]{16}-00\r\n");
    response().release();
    down.writeInbound(Unpooled.copiedBuffer("GET /sampled HTTP/1.1\r\nHost: payment-service\r\n"
        + "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n", StandardCharsets.US_ASCII));
    drain();
    answer(200);
    assertThat(lastUpstreamRequest).containsPattern(
        "traceparent: 00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01\r\n");
    response().release();
  }

  @Test
  void retriesA503ThenSucceedsAfterBackoff() throws Exception {
    start(VS.formatted("retries: {attempts: 2, retryOn: 5xx}"));
    request("/pay");
    assertThat(tunnels).hasSize(1);
    ConnectTarget t = targets.get(0);
    assertThat(t.nextHop().getPort()).isEqualTo(15008);
    assertThat(t.authority()).endsWith(":8080");
    assertThat(t.source().serviceAccount()).isEqualTo("payment-waypoint");
    assertThat(t.expectedPeers()).extracting(SpiffeId::serviceAccount).containsExactly("payment-service");
    answer(503);
    assertThat(tunnels).as("the retry waits for its backoff").hasSize(1);
    advance(60);
    assertThat(tunnels).hasSize(2);
    answer(200);
    FullHttpResponse r = response();
    assertThat(r.status().code()).isEqualTo(200);
    r.release();
  }

  @Test
  void retriesExhaustedReturnTheLastResponseWithURX() throws Exception {
    start(VS.formatted("retries: {attempts: 1, retryOn: 5xx}"));
    request("/pay");
    answer(503);
    advance(60);
    answer(503);
    FullHttpResponse r = response();
    assertThat(r.status().code()).isEqualTo(503);
    r.release();
    assertThat(registry.scrape()).contains("response_flags=\"URX\"");
  }

  @Test
  void perTryTimeoutRetriesAndOverallTimeoutAnswers504() throws Exception {
    start(VS.formatted("timeout: 1s\n    retries: {attempts: 5, perTryTimeout: 300ms, retryOn: reset}"));
    request("/slow");
    assertThat(tunnels).hasSize(1);
    advance(300);
    advance(100);
    assertThat(tunnels).as("per-try timeout → retry").hasSize(2);
    advance(300);
    advance(100);
    assertThat(tunnels).hasSize(3);
    advance(400);
    FullHttpResponse r = response();
    assertThat(r.status().code()).as("the route timeout bounds every try").isEqualTo(504);
    assertThat(r.content().toString(StandardCharsets.US_ASCII)).isEqualTo("upstream request timeout");
    r.release();
    assertThat(registry.scrape()).contains("response_flags=\"UT\"");
  }

  @Test
  void connectFailureIsRetriedThenAnswered503UF() throws Exception {
    failConnects = true;
    start(VS.formatted("retries: {attempts: 1, retryOn: connect-failure}"));
    request("/pay");
    advance(60);
    assertThat(targets).hasSize(2);
    FullHttpResponse r = response();
    assertThat(r.status().code()).isEqualTo(503);
    assertThat(r.content().toString(StandardCharsets.US_ASCII)).contains("connection failure");
    r.release();
    assertThat(registry.scrape()).contains("response_flags=\"UF,URX\"");
  }

  @Test
  void resetBeforeHeadersIsRetriedOnReset() throws Exception {
    start(VS.formatted("retries: {attempts: 1, retryOn: reset}"));
    request("/pay");
    EmbeddedChannel first = tunnels.get(0);
    ByteBuf req = first.readOutbound();
    req.release();
    first.close();
    drain();
    advance(60);
    assertThat(tunnels).hasSize(2);
    answer(200);
    FullHttpResponse r = response();
    assertThat(r.status().code()).isEqualTo(200);
    r.release();
  }

  static final String V1_ONLY = """
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: payment-service, namespace: production}
      spec:
        host: payment-service
        subsets: [{name: v1, labels: {version: v1}}]
      ---
      """;

  @Test
  void aPooledConnectionThatDiesUnderARequestIsReplacedTransparently() throws Exception {
    start(V1_ONLY + VS.replace("host: payment-service}", "host: payment-service, subset: v1}").formatted("retries: {attempts: 0}"));
    request("/one");
    answer(200);
    response().release();
    request("/two");
    assertThat(tunnels).hasSize(1);
    EmbeddedChannel pooled = tunnels.get(0);
    ByteBuf sent = pooled.readOutbound();
    sent.release();
    pooled.close();
    drain();
    assertThat(tunnels).as("a fresh connection, although the route has no retries").hasSize(2);
    answer(200);
    FullHttpResponse r = response();
    assertThat(r.status().code()).isEqualTo(200);
    r.release();
  }

  @Test
  void anIdleConnectionClosedByTheServerIsNotReused() throws Exception {
    start(V1_ONLY + VS.replace("host: payment-service}", "host: payment-service, subset: v1}").formatted("retries: {attempts: 0}"));
    request("/one");
    answer(200);
    response().release();
    tunnels.get(0).close();
    request("/two");
    assertThat(tunnels).hasSize(2);
    answer(200);
    FullHttpResponse r = response();
    assertThat(r.status().code()).isEqualTo(200);
    r.release();
  }

  @Test
  void keepAliveConnectionsAreReused() throws Exception {
    start("""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: payment-service, namespace: production}
        spec:
          host: payment-service
          subsets: [{name: v1, labels: {version: v1}}]
        ---
        """ + VS.replace("host: payment-service}", "host: payment-service, subset: v1}").formatted("retries: {attempts: 0}"));
    request("/one");
    answer(200);
    response().release();
    request("/two");
    assertThat(tunnels).as("the idle upstream connection carried the second request").hasSize(1);
    answer(200);
    FullHttpResponse r = response();
    assertThat(r.status().code()).isEqualTo(200);
    r.release();
  }

  /**
   * Istio's {@code remoteIpBlocks} through the waypoint: {@code X-Forwarded-For} decides {@code
   * remote.ip} only when proxies in front are trusted ({@code --num-trusted-proxies N}: the N-th
   * address from the right); otherwise it is the client pod (127.99.1.10 here), whatever the header
   * says.
   */
  @Test
  void remoteIpBlocksFollowXForwardedForOnlyThroughTrustedProxies() throws Exception {
    String policy = """
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: office-only, namespace: production}
        spec:
          targetRefs: [{kind: Service, group: "", name: payment-service}]
          action: ALLOW
          rules: [{from: [{source: {remoteIpBlocks: ["203.0.113.0/24"]}}]}]
        """;
    String xff = "198.51.100.7, 203.0.113.9";
    int[] expected = {403, 200, 403};
    for (int trusted = 0; trusted <= 2; trusted++) {
      cleanUp();
      tunnels.clear();
      trustedProxies = trusted;
      start(policy);
      down.writeInbound(Unpooled.copiedBuffer("GET /pay HTTP/1.1\r\nHost: payment-service\r\nX-Forwarded-For: " + xff
          + "\r\n\r\n", StandardCharsets.US_ASCII));
      drain();
      if (expected[trusted] == 200) {
        answer(200);
      }
      FullHttpResponse r = response();
      assertThat(r.status().code()).as("%d trusted proxies, X-Forwarded-For: %s", trusted, xff)
          .isEqualTo(expected[trusted]);
      r.release();
    }
    cleanUp();
    tunnels.clear();
    trustedProxies = 1;
    start(policy);
    request("/pay");
    FullHttpResponse r = response();
    assertThat(r.status().code()).as("one trusted proxy, no header: the client pod's address").isEqualTo(403);
    r.release();
  }
}
