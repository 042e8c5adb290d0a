package dev.ambientj.config.xds;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.FileConfigSource;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.server.ConfigServer;
import io.envoyproxy.envoy.config.core.v3.Node;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A file-sourced config server and the xDS loader over real gRPC on 127.0.0.1: the loader's
 * snapshot has the file source's data path; changes, NACKs, restarts and the on-disk copy.
 */
class XdsLoopTest {
  private static final Logger log = LoggerFactory.getLogger(XdsLoopTest.class);
  private static final Duration BOUND = Duration.ofSeconds(10);
  private static final String EVIL_POD =
      """
      ---
      apiVersion: v1
      kind: Pod
      metadata: {name: evil-0, namespace: legacy, uid: evil-uid}
      spec: {nodeName: node-b, serviceAccountName: evil}
      status: {podIP: 127.0.3.66}
      """;

  @TempDir Path dir;
  Path meshFile;
  Path cacheFile;
  SnapshotPublisher serverSnapshots;
  FileConfigSource files;
  XdsServer xds;
  ConfigServer server;
  final List<AutoCloseable> closeables = new java.util.ArrayList<>();

  @BeforeEach
  void startServer() throws IOException {
    meshFile = dir.resolve("mesh.yaml");
    cacheFile = dir.resolve("cache/xds.pb");
    Files.writeString(meshFile, Meshes.exampleYaml());
    serverSnapshots = new SnapshotPublisher();
    files = FileConfigSource.start(List.of(meshFile), serverSnapshots);
    startXds(new InetSocketAddress("127.0.0.1", 0));
  }

  private void startXds(InetSocketAddress listen) throws IOException {
    xds = XdsServer.builder(serverSnapshots).build();
    server = ConfigServer.builder(listen).service(xds).start();
  }

  private void stopXds() {
    xds.close();
    server.close();
  }

  @AfterEach
  void stop() throws Exception {
    for (AutoCloseable c : closeables) {
      c.close();
    }
    stopXds();
    files.close();
  }

  private XdsConfigSource client(Node node, SnapshotPublisher out,
      XdsConfigSource.Validator validator) {
    XdsConfigSource c = XdsConfigSource.builder(server.address(), node, out)
        .cacheFile(cacheFile).validator(validator).start();
    closeables.add(c);
    return c;
  }

  private static Node ztunnel(String nodeName) {
    return ProxyNode.node("ztunnel", "127.0.100.9", "ztunnel-x", "istio-system", nodeName);
  }

  static void eventually(String what, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + BOUND.toNanos();
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("eventually: " + what).isLessThan(deadline);
      Thread.sleep(5);
    }
  }

  @Test
  void loaderHasTheFileSourcesDataPathAndFollowsChanges() throws Exception {
    SnapshotPublisher snapshots = new SnapshotPublisher();
    XdsConfigSource c = client(ztunnel(""), snapshots, null);
    MeshSnapshot first = c.ready().get(BOUND.toMillis(), TimeUnit.MILLISECONDS);
    Meshes.assertSameDataPath(first, serverSnapshots.snapshot());
    assertThat(first.policies().authorizationPolicies()).hasSize(3);
    assertThat(first.policies().peerAuthentications())
        .hasSameSizeAs(serverSnapshots.snapshot().policies().peerAuthentications());
    assertThat(first.policies().virtualServices()).isEmpty();
    assertThat(c.fromCache()).isFalse();

    long t0 = System.nanoTime();
    Files.writeString(meshFile, Meshes.exampleYaml() + EVIL_POD);
    eventually("the new pod reaches the loader",
        () -> snapshots.snapshot().findWorkloadByUid("evil-uid").isPresent());
    long micros = (System.nanoTime() - t0) / 1000;
    log.info("file change → applied by the xDS loader in {} ms", micros / 1000.0);
    System.out.printf("xds change->applied latency: %.1f ms%n", micros / 1000.0);
    Meshes.assertSameDataPath(snapshots.snapshot(), serverSnapshots.snapshot());

    Files.writeString(meshFile, Meshes.exampleYaml());
    eventually("the pod's removal reaches the loader",
        () -> snapshots.snapshot().findWorkloadByUid("evil-uid").isEmpty());
    assertThat(xds.nackCount()).isZero();
  }

  @Test
  void authorizationIsScopedToTheZtunnelsNode() throws Exception {
    SnapshotPublisher a = new SnapshotPublisher();
    SnapshotPublisher b = new SnapshotPublisher();
    client(ztunnel("node-a"), a, null).ready().get(BOUND.toMillis(), TimeUnit.MILLISECONDS);
    client(ztunnel("node-b"), b, null).ready().get(BOUND.toMillis(), TimeUnit.MILLISECONDS);
    assertThat(a.snapshot().policies().authorizationPolicies())
        .extracting(p -> p.getMetadata().getName())
        .containsExactlyInAnyOrder("deny-blocked", "production-only");
    assertThat(b.snapshot().policies().authorizationPolicies())
        .extracting(p -> p.getMetadata().getName())
        .containsExactlyInAnyOrder("deny-blocked", "production-only", "orders-port");
    assertThat(a.snapshot().workloads()).hasSameSizeAs(b.snapshot().workloads());
  }

  @Test
  void aWaypointGetsThePolicyObjectsOfItsServicesWhole() throws Exception {
    SnapshotPublisher snapshots = new SnapshotPublisher();
    Node waypoint = ProxyNode.node("waypoint", "127.0.1.30", "payment-waypoint-0", "production",
        "node-a");
    MeshSnapshot s = client(waypoint, snapshots, null).ready()
        .get(BOUND.toMillis(), TimeUnit.MILLISECONDS);
    Meshes.assertSameDataPath(s, serverSnapshots.snapshot());
    var expected = serverSnapshots.snapshot().policies();
    // Everything in the example is about payment-service, except the ztunnel's L4 policies.
    assertThat(s.policies().virtualServices())
        .containsExactlyInAnyOrderElementsOf(expected.virtualServices());
    assertThat(s.policies().destinationRules())
        .containsExactlyInAnyOrderElementsOf(expected.destinationRules());
    assertThat(s.policies().localRateLimits())
        .containsExactlyInAnyOrderElementsOf(expected.localRateLimits());
    assertThat(s.policies().authorizationPolicies())
        .extracting(p -> p.getMetadata().getName()).containsExactly("payment-access");
    assertThat(s.policies().authorizationPolicies().getFirst()).isEqualTo(
        expected.authorizationPolicies().stream()
            .filter(p -> p.getMetadata().getName().equals("payment-access")).findFirst()
            .orElseThrow());
    assertThat(s.policies().peerAuthentications()).isEmpty();
    assertThat(s.policies().virtualServices()).isNotEmpty();
    assertThat(s.policies().localRateLimits()).isNotEmpty();
  }

  @Test
  void aNackedResourceKeepsItsPreviousStateTheRestAppliesAndTheServerRecordsIt()
      throws Exception {
    SnapshotPublisher snapshots = new SnapshotPublisher();
    XdsConfigSource c = client(ztunnel(""), snapshots, s -> {
      if (s.findWorkloadByUid("evil-uid").isPresent()) {
        throw new XdsDecodeException(TypeUrls.ADDRESS, "evil-uid", "refused by the test");
      }
    });
    MeshSnapshot good = c.ready().get(BOUND.toMillis(), TimeUnit.MILLISECONDS);

    Files.writeString(meshFile, Meshes.exampleYaml() + EVIL_POD);
    eventually("the server hears the NACK", () -> xds.nackCount() == 1);
    assertThat(xds.recentNacks()).singleElement().satisfies(n -> {
      assertThat(n.typeUrl()).isEqualTo(TypeUrls.ADDRESS);
      assertThat(n.message()).contains("evil-uid").contains("refused by the test");
    });
    assertThat(c.lastNack()).contains("refused by the test");
    eventually("the NACK is shown", () -> !snapshots.snapshot().rejections().isEmpty());
    MeshSnapshot nacked = snapshots.snapshot();
    assertThat(nacked.findWorkloadByUid("evil-uid")).as("not applied").isEmpty();
    assertThat(nacked.workloads()).containsExactlyInAnyOrderElementsOf(good.workloads());
    assertThat(nacked.rejections()).singleElement().satisfies(r -> {
      assertThat(r.toString()).isEqualTo(
          "xDS: istio.workload.Address evil-uid: NACKed: refused by the test");
      assertThat(r.previousInForce()).as("a new resource: nothing kept").isFalse();
    });

    Files.writeString(meshFile, Meshes.exampleYaml().replace("app: legacy-web", "app: legacy-web2"));
    eventually("a later good version is applied", () -> snapshots.snapshot() != nacked
        && snapshots.snapshot().rejections().isEmpty());
    Meshes.assertSameDataPath(snapshots.snapshot(), serverSnapshots.snapshot());
  }

  @Test
  void keepsTheSnapshotWhileTheServerIsDownAndResyncsAfter() throws Exception {
    SnapshotPublisher snapshots = new SnapshotPublisher();
    var registry = new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
    closeables.add(dev.ambientj.config.XdsClientMetrics.bind(registry, snapshots));
    XdsConfigSource c = client(ztunnel(""), snapshots, null);
    MeshSnapshot first = c.ready().get(BOUND.toMillis(), TimeUnit.MILLISECONDS);
    InetSocketAddress address = server.address();
    assertThat(registry.get("istio.xds.message").tag("url", TypeUrls.ADDRESS).functionCounter()
        .count()).as("Address responses received").isGreaterThanOrEqualTo(1);
    assertThat(registry.find("istio.xds.connection.terminations").functionCounters()).isEmpty();

    stopXds();
    Thread.sleep(200); // the loader notices and retries meanwhile
    assertThat(snapshots.snapshot()).isSameAs(first);
    eventually("the lost stream is counted as a connection error", () -> registry
        .find("istio.xds.connection.terminations").tag("reason", "ConnectionError")
        .functionCounter() != null);

    Files.writeString(meshFile, Meshes.exampleYaml() + EVIL_POD);
    eventually("the file source has the pod",
        () -> serverSnapshots.snapshot().findWorkloadByUid("evil-uid").isPresent());
    startXds(address);
    eventually("the loader resyncs with the restarted server",
        () -> snapshots.snapshot().findWorkloadByUid("evil-uid").isPresent());
    Meshes.assertSameDataPath(snapshots.snapshot(), serverSnapshots.snapshot());
  }

  @Test
  void startsFromTheOnDiskCopyWhenTheServerIsUnreachable() throws Exception {
    SnapshotPublisher warm = new SnapshotPublisher();
    XdsConfigSource c = client(ztunnel(""), warm, null);
    c.ready().get(BOUND.toMillis(), TimeUnit.MILLISECONDS);
    assertThat(cacheFile).exists();
    InetSocketAddress address = server.address();
    c.close();
    stopXds();

    SnapshotPublisher cold = new SnapshotPublisher();
    XdsConfigSource restarted = XdsConfigSource.builder(address, ztunnel(""), cold)
        .cacheFile(cacheFile).start();
    closeables.add(restarted);
    MeshSnapshot fromDisk = restarted.ready().get(BOUND.toMillis(), TimeUnit.MILLISECONDS);
    assertThat(restarted.fromCache()).isTrue();
    Meshes.assertSameDataPath(fromDisk, serverSnapshots.snapshot());

    startXds(address);
    eventually("the loader reaches the server", () -> !restarted.fromCache());
    Meshes.assertSameDataPath(cold.snapshot(), serverSnapshots.snapshot());
  }
}
