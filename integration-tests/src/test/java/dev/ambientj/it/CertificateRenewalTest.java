package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.ca.CaClient;
import dev.ambientj.config.ca.CaStateDirectory;
import dev.ambientj.config.ca.CertificateAuthority;
import dev.ambientj.config.ca.IstioCertificateServiceImpl;
import dev.ambientj.config.ca.NodeTokenAuthenticator;
import dev.ambientj.config.ca.NodeTokens;
import dev.ambientj.config.server.ConfigServer;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.launcher.demo.Socks5Client;
import dev.ambientj.hbone.identity.CertificateManager;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Workload certificates from the config server's CA over a real gRPC socket (each node
 * authenticated by its node token, identities impersonated as ztunnel does), with a 4 s lifetime:
 * several renewals happen while a stream keeps flowing, and new connections handshake with the
 * renewed certificates (the first ones have long expired by then). Example mesh at 127.43.x.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CertificateRenewalTest {
  private static final String P = "127.43";
  private static final Duration TTL = Duration.ofSeconds(4);
  private static final SpiffeId GATEWAY =
      SpiffeId.parse("spiffe://cluster.local/ns/production/sa/api-gateway");
  private static final SpiffeId ORDERS =
      SpiffeId.parse("spiffe://cluster.local/ns/production/sa/orders");

  private Path stateDir;
  private ConfigServer server;
  private CaClient caNodeA;
  private CaClient caNodeB;
  private CertificateManager certsA;
  private CertificateManager certsB;
  private Mesh mesh;

  @BeforeAll
  void start() throws Exception {
    mesh = Mesh.fromYaml(TestMeshes.example(P));
    stateDir = Files.createTempDirectory("ambientj-ca-it");
    CaStateDirectory state = CaStateDirectory.open(stateDir, "cluster.local");
    NodeTokens tokens = NodeTokens.open(state.nodeTokensDirectory());
    mesh.own(mesh.publisher().subscribe(tokens));
    server = ConfigServer.builder(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
        .interceptor(new NodeTokenAuthenticator(tokens))
        .service(new IstioCertificateServiceImpl(
            CertificateAuthority.of(state, Duration.ofHours(1)), mesh.publisher()))
        .start();
    String target = "127.0.0.1:" + server.address().getPort();
    caNodeA = CaClient.builder(target).tokenFile(tokens.tokenFile("node-a")).build();
    caNodeB = CaClient.builder(target).tokenFile(tokens.tokenFile("node-b")).build();
    certsA = CertificateManager.create(
        CaSource.of(caNodeA, TTL));
    certsB = CertificateManager.create(
        CaSource.of(caNodeB, TTL));
    mesh.node("node-a").identities(certsA).ztunnel();
    mesh.node("node-b").identities(certsB).ztunnel();
    mesh.workload("orders-0").httpEcho(8080).tcpEcho(9000);
    mesh.workload("payment-v1-0").tcpEcho(9000);
  }

  @AfterAll
  void stop() throws Exception {
    mesh.close();
    certsA.close();
    certsB.close();
    caNodeA.close();
    caNodeB.close();
    server.close();
    try (var files = Files.walk(stateDir)) {
      files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
    }
  }

  @Test
  void certificatesRenewWhileAStreamKeepsFlowing() throws Exception {
    InetSocketAddress socks = mesh.workload("api-gateway-0").socks();
    long gatewayFetches = certsA.fetchCount(GATEWAY);
    long ordersFetches = certsB.fetchCount(ORDERS);
    try (Socket s = Socks5Client.connect(socks, P + ".2.10", 9000, Mesh.TIMEOUT)) {
      s.setSoTimeout(5_000);
      OutputStream out = s.getOutputStream();
      InputStream in = s.getInputStream();
      long end = System.nanoTime() + Duration.ofSeconds(9).toNanos();
      int rounds = 0;
      while (System.nanoTime() < end) {
        byte[] msg = ("round-" + rounds + "\n").getBytes(StandardCharsets.US_ASCII);
        out.write(msg);
        out.flush();
        assertThat(in.readNBytes(msg.length)).as("echo of round %d", rounds).isEqualTo(msg);
        rounds++;
        Thread.sleep(100);
      }
      assertThat(rounds).isGreaterThan(40);
    }
    assertThat(certsA.fetchCount(GATEWAY) - gatewayFetches).as("api-gateway renewals")
        .isGreaterThanOrEqualTo(3);
    assertThat(certsB.fetchCount(ORDERS) - ordersFetches).as("orders renewals")
        .isGreaterThanOrEqualTo(3);
    assertThat(certsA.fetchCertificate(GATEWAY).get().notAfter())
        .as("a current certificate").isAfter(java.time.Instant.now());

    // A new pool key (payment-v1-0 was never called): a fresh TLS handshake on both sides with
    // certificates issued long after the first ones expired.
    try (Socket s = Socks5Client.connect(socks, P + ".2.20", 9000, Mesh.TIMEOUT)) {
      s.setSoTimeout(5_000);
      s.getOutputStream().write("fresh".getBytes(StandardCharsets.US_ASCII));
      assertThat(new String(s.getInputStream().readNBytes(5), StandardCharsets.US_ASCII))
          .isEqualTo("fresh");
    }
  }
}
