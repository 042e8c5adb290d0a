package dev.ambientj.config.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.ca.CaClient;
import dev.ambientj.config.ca.ControlPlaneTls;
import dev.ambientj.config.ca.CsrFactory;
import dev.ambientj.config.xds.ProxyNode;
import dev.ambientj.config.xds.TypeUrls;
import dev.ambientj.config.xds.XdsConfigSource;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.handler.ssl.SslContext;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code mesh config-server} with its limits set by flags, on real sockets: a socket that never
 * handshakes is closed at the deadline on both ports, while proxies' xDS streams (plaintext and
 * TLS) outlive it and keep receiving changes; a request over the size limit is refused.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ConfigServerLimitsTest {
  private static final String GATEWAY = "spiffe://cluster.local/ns/production/sa/api-gateway";
  private static final Duration HANDSHAKE = Duration.ofMillis(2500);
  private static final Duration BOUND = Duration.ofSeconds(20);

  @TempDir static Path tmp;
  Path mesh;
  ConfigServerCommand.Running running;
  final ByteArrayOutputStream printed = new ByteArrayOutputStream();

  @BeforeAll
  void start() throws Exception {
    Path dir = Path.of("").toAbsolutePath();
    while (!Files.isDirectory(dir.resolve("examples"))) {
      dir = dir.getParent();
    }
    mesh = tmp.resolve("mesh.yaml");
    Files.writeString(mesh, Files.readString(dir.resolve("examples/mesh.yaml")));
    running = ConfigServerCommand.start(new String[] {
        "--config", mesh.toString(), "--state-dir", tmp.resolve("state").toString(),
        "--listen", "127.0.0.1:0", "--listen-tls", "127.0.0.1:0",
        "--handshake-timeout", "2500ms", "--max-request-bytes", "4096"},
        new PrintStream(printed, true));
  }

  @AfterAll
  void stop() {
    running.close();
  }

  @Test
  void theLimitsInForceArePrinted() {
    assertThat(printed.toString()).contains("limits:").contains("handshake within 2500ms")
        .contains("requests up to 4096 bytes");
  }

  @Test
  void aSocketThatNeverHandshakesIsClosedAtTheDeadlineOnBothPorts() throws Exception {
    long before = running.guard().gateStats().handshakeTimeouts();
    for (InetSocketAddress port : List.of(running.server().address(),
        running.tlsServer().address())) {
      try (Socket idle = new Socket(port.getAddress(), port.getPort())) {
        idle.setSoTimeout((int) BOUND.toMillis());
        InputStream in = idle.getInputStream();
        assertThat(readUntilClosed(in)).as("closed by the server on %s", port).isTrue();
      }
    }
    assertThat(running.guard().gateStats().handshakeTimeouts() - before).isEqualTo(2);
    assertThat(running.guard().stats()).contains("closed at the handshake deadline");
  }

  @Test
  void proxiesXdsStreamsOutliveTheHandshakeDeadlineAndKeepGettingChanges() throws Exception {
    SnapshotPublisher plain = new SnapshotPublisher();
    SnapshotPublisher tls = new SnapshotPublisher();
    String token = Files.readString(running.tokens().tokenFile("node-a")).strip();
    try (XdsConfigSource a = XdsConfigSource.builder(running.server().address(),
            ProxyNode.node("ztunnel", "127.0.100.1", "ztunnel-a", "istio-system", "node-a"), plain)
            .bearerToken(token).start();
        XdsConfigSource b = XdsConfigSource.builder(running.tlsServer().address(),
            ProxyNode.node("ztunnel", "127.0.100.1", "ztunnel-a", "istio-system", "node-a"), tls)
            .tls(workloadTls()).start()) {
      a.ready().get(BOUND.toMillis(), TimeUnit.MILLISECONDS);
      b.ready().get(BOUND.toMillis(), TimeUnit.MILLISECONDS);
      Thread.sleep(HANDSHAKE.multipliedBy(2).toMillis()); // well past the handshake deadline
      Files.writeString(mesh, Files.readString(mesh).replace("name: orders-0",
          "name: orders-renamed-0"));
      eventually("both streams get the change", () -> has(plain, "orders-renamed-0")
          && has(tls, "orders-renamed-0"));
    }
  }

  @Test
  void aRequestOverTheSizeLimitIsRefused() throws Exception {
    ManagedChannel channel = NettyChannelBuilder.forAddress(running.server().address())
        .usePlaintext().build();
    try {
      CompletableFuture<Status> ended = new CompletableFuture<>();
      StreamObserver<DeltaDiscoveryRequest> requests = AggregatedDiscoveryServiceGrpc
          .newStub(channel).deltaAggregatedResources(new StreamObserver<>() {
            @Override
            public void onNext(DeltaDiscoveryResponse value) {}

            @Override
            public void onError(Throwable t) {
              ended.complete(Status.fromThrowable(t));
            }

            @Override
            public void onCompleted() {
              ended.complete(Status.OK);
            }
          });
      DeltaDiscoveryRequest.Builder big = DeltaDiscoveryRequest.newBuilder()
          .setTypeUrl(TypeUrls.ADDRESS);
      for (int i = 0; i < 200; i++) {
        big.putInitialResourceVersions("production/workload-with-a-long-name-" + i, "v" + i);
      }
      assertThat(big.build().getSerializedSize()).isGreaterThan(4096);
      requests.onNext(big.build());
      Status status = ended.get(BOUND.toMillis(), TimeUnit.MILLISECONDS);
      assertThat(status.getCode()).as(status.toString()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  private SslContext workloadTls() throws Exception {
    var roots = ControlPlaneTls.parseCertificates(
        Files.readString(running.state().trustBundleFile()));
    CsrFactory.Generated csr = CsrFactory.create(GATEWAY);
    try (CaClient ca = CaClient.builder("127.0.0.1:" + running.tlsServer().address().getPort())
        .tls(ControlPlaneTls.client(roots, null, null))
        .tokenFile(running.tokens().tokenFile("node-a")).build()) {
      List<String> chain = ca.fetchCertificate(csr.csrPem(), Duration.ofHours(1), GATEWAY)
          .get(BOUND.toMillis(), TimeUnit.MILLISECONDS);
      return ControlPlaneTls.client(roots, csr.keyPair().getPrivate(),
          ControlPlaneTls.parseCertificates(String.join("\n", chain)));
    }
  }

  private static boolean has(SnapshotPublisher p, String workload) {
    return p.snapshot().workloads().stream().anyMatch(w -> w.name().equals(workload));
  }

  /** Reads until EOF or a reset; false if the read timed out. */
  private static boolean readUntilClosed(InputStream in) {
    try {
      while (in.read() >= 0) {
        // the server writes nothing before the handshake; drain whatever comes
      }
      return true;
    } catch (java.net.SocketTimeoutException e) {
      return false;
    } catch (IOException e) {
      return true; // reset
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
}
