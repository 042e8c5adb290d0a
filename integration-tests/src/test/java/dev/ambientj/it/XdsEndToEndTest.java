package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.ProxyConfigSources;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.ca.CaClient;
import dev.ambientj.config.ca.ControlPlaneTls;
import dev.ambientj.config.ca.CsrFactory;
import dev.ambientj.config.model.ConfigRejection;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.server.ConfigServerCommand;
import dev.ambientj.config.xds.ProxyNode;
import dev.ambientj.config.xds.XdsConfigSource;
import dev.ambientj.hbone.transport.Transport;
import dev.ambientj.launcher.demo.EchoBackend;
import dev.ambientj.launcher.demo.HttpOverSocks;
import dev.ambientj.launcher.demo.HttpOverSocks.Response;
import dev.ambientj.waypoint.Waypoint;
import dev.ambientj.ztunnel.ListenerBinder;
import dev.ambientj.ztunnel.Ztunnel;
import dev.ambientj.hbone.identity.CertificateManager;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.ssl.SslContext;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The mesh fed over xDS, as a cluster runs it: a real config server ({@link
 * ConfigServerCommand#start}, the wiring of {@code mesh config-server --config FILE}) watches a
 * file holding the example mesh and its payment policies (moved to 127.64.x); the two ztunnels and
 * the payment waypoint each load their configuration with {@link ProxyConfigSources#start} (delta
 * ADS, as {@code mesh ztunnel --xds} and {@code mesh waypoint --xds} do) and their certificates
 * from the config server's CA, each node authenticated by its node token (the waypoint, whose pod
 * runs on node-a, through node-a's). The ztunnels use the plaintext port, as {@code mesh ztunnel
 * --xds} does today; the waypoint subscribes on the mTLS port ({@code --listen-tls}) with its
 * workload certificate, bootstrapped from the CA on that same port with node-a's token.
 *
 * <pre>
 * api-gateway-0 ──SOCKS5──▶ ztunnel node-a ──HBONE──▶ payment-waypoint ──HBONE──▶ ztunnel node-b ──▶ payment-v1/v2
 *                              ▲                           ▲                         ▲
 *                              └────── delta xDS + CA ─────┴──── mesh config-server ─┘ ◀── mesh.yaml (edited)
 * </pre>
 *
 * <p>The tests change the file and the server's life in turn, so they run in order.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class XdsEndToEndTest {
  private static final String P = "127.64";
  private static final String PAYMENT = "payment-service.production.svc.cluster.local";
  private static final String WAYPOINT_ID =
      "spiffe://cluster.local/ns/production/sa/payment-waypoint";
  /** Resync after a restart waits for the loader's backoff (at most 15 s). */
  private static final Duration BOUND = Duration.ofSeconds(40);

  private static final String CANARY = "weight: 95";
  private static final String CANARY_V2 = "weight: 5";

  /** A policy the translator must refuse; applied either way, it would deny payment. */
  private static final String INVALID_POLICY = TestMeshes.invalidPolicy("deny-everything-badly");

  private Path dir;
  private Path file;
  private Path stateDir;
  private String yaml;
  private ConfigServerCommand.Running server;
  private InetSocketAddress xdsAddress;
  private InetSocketAddress tlsAddress;
  private final Transport transport = Transport.select(Transport.Kind.parse("auto"));
  private EventLoopGroup group;
  private final List<AutoCloseable> closeables = new ArrayList<>();
  private final SnapshotPublisher configA = new SnapshotPublisher();
  private final SnapshotPublisher configB = new SnapshotPublisher();
  private final SnapshotPublisher configWaypoint = new SnapshotPublisher();
  private XdsConfigSource xdsB;
  private Ztunnel nodeB;
  private Waypoint waypoint;
  private InetSocketAddress socks;

  @BeforeAll
  void start() throws Exception {
    dir = Files.createTempDirectory("ambientj-xds-e2e");
    file = dir.resolve("mesh.yaml");
    stateDir = dir.resolve("config-server-state");
    String policies = TestMeshes.exampleFile("payment-policies.yaml");
    // The example allows 100 requests a minute through the waypoint; the tests send more.
    String unlimited = policies.replace("max_tokens: 100", "max_tokens: 100000")
        .replace("tokens_per_fill: 100", "tokens_per_fill: 100000");
    assertThat(unlimited).isNotEqualTo(policies);
    yaml = TestMeshes.relocate(TestMeshes.exampleFile("mesh.yaml") + "\n---\n" + unlimited, P);
    assertThat(yaml).contains(CANARY, CANARY_V2);
    Files.writeString(file, yaml);
    startServer("127.0.0.1:0", "127.0.0.1:0");
    xdsAddress = server.server().address();
    tlsAddress = server.tlsServer().address();

    group = transport.newEventLoopGroup(2, "it-xds");
    CertificateManager certsA = certificates("node-a");
    CertificateManager certsB = certificates("node-b");
    startZtunnel("node-a", configA, certsA);
    xdsB = (XdsConfigSource) own(ProxyConfigSources.start(options("ztunnel", "ztunnel-b",
        "istio-system", "node-b", token("node-b")), configB, BOUND));
    nodeB = own(ztunnel("node-b", configB, certsB));
    XdsConfigSource waypointXds = own(XdsConfigSource.builder(tlsAddress,
            ProxyNode.node("waypoint", address("payment-waypoint-0").getHostAddress(),
                "payment-waypoint", "production", "node-a"), configWaypoint)
        .tls(waypointTls()).cacheFile(dir.resolve("xds-cache-waypoint.pb")).start());
    waypointXds.ready().get(BOUND.toMillis(), TimeUnit.MILLISECONDS);
    waypoint = own(Waypoint.builder().name("payment-waypoint").namespace("production")
        .config(configWaypoint).identityProvider(certsA).transport(transport)
        .eventLoopGroup(group).build().start());
    for (String pod : List.of("payment-v1-0", "payment-v2-0")) {
      InetSocketAddress app = new InetSocketAddress(address(pod), 8080);
      own(EchoBackend.start(group, transport.serverChannelClass(), app, pod,
          pod.contains("v1") ? "v1" : "v2", nodeB::findInboundPeerIdentity));
    }
    socks = new InetSocketAddress(address("api-gateway-0"), 15080);
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
      server.close();
    }
    if (group != null) {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
    try (var files = Files.walk(dir)) {
      files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
    }
  }

  @Test
  @Order(1)
  void aRequestReachesPaymentThroughTheWaypointAllConfiguredOverXds() throws Exception {
    Response r = get("/pay");
    assertThat(r.status()).as(r.body()).isEqualTo(200);
    assertThat(r.body()).contains("\"workload\":\"payment-v")
        .contains("\"peer\":\"" + WAYPOINT_ID + "\"");
    assertThat(xdsB.fromCache()).isFalse();
    assertThat(configWaypoint.snapshot().findWaypoint(
        new dev.ambientj.config.model.WaypointRef("production", "payment-waypoint"))).isPresent();
    // Each proxy got its scope: the waypoint payment's L7 objects, the ztunnels no routes.
    MeshSnapshot wp = configWaypoint.snapshot();
    assertThat(wp.policies().virtualServices()).extracting(v -> v.getMetadata().getName())
        .containsExactly("payment-service");
    assertThat(wp.policies().peerAuthentications()).isEmpty();
    assertThat(configB.snapshot().policies().virtualServices()).isEmpty();
    assertThat(configB.snapshot().policies().peerAuthentications()).isNotEmpty();
    assertThat(configB.snapshot().workloads()).hasSameSizeAs(server.publisher().snapshot()
        .workloads());
  }

  @Test
  @Order(2)
  void editingTheVirtualServiceMovesTheTraffic() throws Exception {
    setWeights(0, 100);
    awaitAllRequestsGoTo("payment-v2-0");
  }

  @Test
  @Order(3)
  void withTheServerStoppedLiveConnectionsAndNewRequestsKeepWorking() throws Exception {
    try (HttpOverSocks live = HttpOverSocks.open(socks, PAYMENT, 80, Mesh.TIMEOUT)) {
      assertThat(live.get("/before", Map.of()).status()).isEqualTo(200);
      MeshSnapshot before = configB.snapshot();

      java.util.concurrent.atomic.AtomicInteger errors = new java.util.concurrent.atomic.AtomicInteger();
      try (AutoCloseable ignored = configB.subscribe(new dev.ambientj.config.SnapshotListener() {
        @Override
        public void onSnapshot(MeshSnapshot snapshot) {}

        @Override
        public void onTransientError(String message) {
          errors.incrementAndGet();
        }
      })) {
        server.close();
        eventually("node-b's loader notices the server is gone", () -> errors.get() > 0);
      }

      Response onLive = live.get("/during", Map.of());
      assertThat(onLive.status()).as(onLive.body()).isEqualTo(200);
      assertThat(onLive.body()).contains("\"workload\":\"payment-v2-0\"");
      for (int i = 0; i < 5; i++) {
        Response fresh = get("/during/new/" + i);
        assertThat(fresh.status()).as(fresh.body()).isEqualTo(200);
        assertThat(fresh.body()).as("the last snapshot: all to v2")
            .contains("\"workload\":\"payment-v2-0\"");
      }
      assertThat(configB.snapshot()).isSameAs(before);
    }
  }

  @Test
  @Order(4)
  void afterARestartTheProxiesResyncAndFollowFurtherEdits() throws Exception {
    // Edited while the server is down: picked up when it comes back.
    setWeights(100, 0);
    startServer(hostPort(xdsAddress), hostPort(tlsAddress));
    assertThat(server.state().createdRoot()).as("same state directory, same root").isFalse();
    awaitAllRequestsGoTo("payment-v1-0");

    // And an edit after the restart.
    setWeights(0, 100);
    awaitAllRequestsGoTo("payment-v2-0");
  }

  @Test
  @Order(5)
  void anInvalidPolicyIsRejectedAloneAndVisibleOnTheServer() throws Exception {
    long nacks = server.xds().nackCount();
    // One invalid object and one valid change in the same edit.
    yaml = weights(yaml, 100, 0) + INVALID_POLICY;
    Files.writeString(file, yaml);
    eventually("the server translated the edit", () -> server.publisher().snapshot()
        .rejections().stream().anyMatch(r -> r.toString().contains("deny-everything-badly")));
    List<ConfigRejection> rejections = server.publisher().snapshot().rejections();
    assertThat(rejections).singleElement().satisfies(r -> assertThat(r.toString())
        .contains("AuthorizationPolicy").contains("production/deny-everything-badly")
        .contains("spec.selector"));
    awaitAllRequestsGoTo("payment-v1-0"); // the valid part applies
    assertThat(configB.snapshot().policies().authorizationPolicies())
        .extracting(p -> p.getMetadata().getName()).doesNotContain("deny-everything-badly");
    assertThat(configA.snapshot().policies().authorizationPolicies())
        .extracting(p -> p.getMetadata().getName()).doesNotContain("deny-everything-badly");
    // Refused by the server's validation, not by the proxies: nothing was NACKed.
    assertThat(server.xds().nackCount()).isEqualTo(nacks);
  }

  // ---- harness ----

  private void startServer(String listen, String listenTls) throws IOException {
    ByteArrayOutputStream printed = new ByteArrayOutputStream();
    server = ConfigServerCommand.start(new String[] {"--config", file.toString(),
        "--state-dir", stateDir.toString(), "--listen", listen, "--listen-tls", listenTls},
        new PrintStream(printed, true));
  }

  /**
   * The waypoint's client TLS for xDS: the mesh CA's roots and its workload certificate, fetched
   * from the CA over TLS without a client certificate (node-a's token authenticates it).
   */
  private SslContext waypointTls() throws Exception {
    List<X509Certificate> roots = ControlPlaneTls.parseCertificates(
        Files.readString(server.state().trustBundleFile()));
    CsrFactory.Generated csr = CsrFactory.create(WAYPOINT_ID);
    List<String> chain;
    try (CaClient ca = CaClient.builder(hostPort(tlsAddress))
        .tls(ControlPlaneTls.client(roots, null, null))
        .tokenFile(server.tokens().tokenFile("node-a")).build()) {
      chain = ca.fetchCertificate(csr.csrPem(), Duration.ofHours(1), WAYPOINT_ID)
          .get(BOUND.toMillis(), TimeUnit.MILLISECONDS);
    }
    return ControlPlaneTls.client(roots, csr.keyPair().getPrivate(),
        ControlPlaneTls.parseCertificates(String.join("\n", chain)));
  }

  private CertificateManager certificates(String node) throws IOException {
    CaClient ca = own(CaClient.builder(hostPort(xdsAddress))
        .tokenFile(server.tokens().tokenFile(node)).build());
    return own(CertificateManager.create(
        CaSource.of(ca, Duration.ofHours(1))));
  }

  private String token(String node) throws IOException {
    return Files.readString(server.tokens().tokenFile(node)).strip();
  }

  private ProxyConfigSources.Options options(String type, String pod, String namespace,
      String node, String token) {
    return new ProxyConfigSources.Options(List.of(), xdsAddress, type, pod, namespace, node,
        token, dir.resolve("xds-cache-" + type + "-" + pod + ".pb"));
  }

  private void startZtunnel(String node, SnapshotPublisher config, CertificateManager certs)
      throws Exception {
    own(ProxyConfigSources.start(options("ztunnel", "ztunnel-" + node, "istio-system", node,
        token(node)), config, BOUND));
    own(ztunnel(node, config, certs));
  }

  private Ztunnel ztunnel(String node, SnapshotPublisher config, CertificateManager certs)
      throws InterruptedException {
    Ztunnel z = Ztunnel.builder().node(node).config(config).identityProvider(certs)
        .transport(transport).eventLoopGroup(group).binder(ListenerBinder.hostMode())
        .build().start();
    assertThat(z.awaitReady(Mesh.TIMEOUT)).as("ztunnel on %s ready", node).isTrue();
    return z;
  }

  private java.net.InetAddress address(String pod) {
    return server.publisher().snapshot().workloads().stream()
        .filter(w -> w.name().equals(pod)).findFirst().orElseThrow().addresses().getFirst();
  }

  private <T extends AutoCloseable> T own(T c) {
    closeables.add(c);
    return c;
  }

  private Response get(String path) throws IOException {
    try (HttpOverSocks http = HttpOverSocks.open(socks, PAYMENT, 80, Mesh.TIMEOUT)) {
      return http.get(path, Map.of());
    }
  }

  private void setWeights(int v1, int v2) throws IOException {
    yaml = weights(yaml, v1, v2);
    Files.writeString(file, yaml);
  }

  /** The canary route's two weights (the v1 destination's first). */
  private static String weights(String yaml, int v1, int v2) {
    int canary = yaml.indexOf("- name: canary");
    assertThat(canary).isPositive();
    String head = yaml.substring(0, canary);
    String tail = yaml.substring(canary);
    tail = tail.replaceFirst("weight: \\d+", "weight: V1").replaceFirst("weight: \\d+", "weight: V2")
        .replace("weight: V1", "weight: " + v1).replace("weight: V2", "weight: " + v2);
    return head + tail;
  }

  /** Eventually, ten requests in a row reach {@code pod} (new connections each). */
  private void awaitAllRequestsGoTo(String pod) throws Exception {
    long deadline = System.nanoTime() + BOUND.toNanos();
    int inARow = 0;
    String last = "";
    while (inARow < 10) {
      assertThat(System.nanoTime()).as("ten requests in a row to %s; last: %s", pod, last)
          .isLessThan(deadline);
      Response r = get("/to/" + pod);
      last = r.status() + " " + r.body();
      inARow = r.status() == 200 && r.body().contains("\"workload\":\"" + pod + "\"")
          ? inARow + 1 : 0;
      if (inARow == 0) {
        Thread.sleep(50);
      }
    }
  }

  private static void eventually(String what, BooleanSupplier condition)
      throws InterruptedException {
    long deadline = System.nanoTime() + BOUND.toNanos();
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("eventually: " + what).isLessThan(deadline);
      Thread.sleep(20);
    }
  }

  /** {@code host:port} of a bound address (the flags' and CaClient's form). */
  private static String hostPort(InetSocketAddress a) {
    return a.getAddress().getHostAddress() + ":" + a.getPort();
  }
}
