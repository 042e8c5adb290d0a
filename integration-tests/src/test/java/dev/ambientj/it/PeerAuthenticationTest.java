package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambientj.hbone.ConnectTarget;
import dev.ambientj.hbone.HboneClient;
import dev.ambientj.hbone.HboneClientConfig;
import dev.ambientj.hbone.identity.LocalCertificateAuthority;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.hbone.identity.WorkloadCertificate;
import dev.ambientj.launcher.demo.Socks5Client;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * PeerAuthentication on 15006 and peer-certificate checks on 15008 (example mesh at 127.42.x):
 * plaintext clients reach orders-0:9000 through its 15006 listener (a binder plays REDIRECT);
 * mTLS clients come through api-gateway-0's SOCKS5 or a hand-made HBONE client with a bad
 * certificate.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PeerAuthenticationTest {
  private static final String P = "127.42";
  private static final String BASE = TestMeshes.example(P);
  private static final SpiffeId GATEWAY =
      SpiffeId.parse("spiffe://cluster.local/ns/production/sa/api-gateway");
  private static final SpiffeId ORDERS =
      SpiffeId.parse("spiffe://cluster.local/ns/production/sa/orders");

  private int fdBaseline;
  private Mesh mesh;

  @BeforeAll
  void startMesh() throws Exception {
    fdBaseline = OpenFiles.count();
    mesh = Mesh.fromYaml(BASE);
    mesh.node("node-a").ztunnel();
    mesh.node("node-b").binder(new RedirectingBinder(Map.of(
        new InetSocketAddress(P + ".2.10", 15006), new InetSocketAddress(P + ".2.10", 9000))))
        .ztunnel();
    mesh.workload("orders-0").httpEcho(8080).tcpEcho(9000);
  }

  @AfterAll
  void stopMesh() throws Exception {
    mesh.close();
    assertThat(OpenFiles.awaitBaseline(fdBaseline, Mesh.TIMEOUT))
        .isLessThanOrEqualTo(fdBaseline + OpenFiles.SLACK);
  }

  private static String peerAuthentication(String spec) {
    return """
        ---
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: production
        spec:
        %s
        """.formatted(spec.indent(2).stripTrailing());
  }

  private String plaintext(String text) throws IOException {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(P + ".2.10", 15006), 5000);
      s.setSoTimeout(10_000);
      s.getOutputStream().write(text.getBytes(StandardCharsets.US_ASCII));
      s.shutdownOutput();
      try {
        return new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
      } catch (IOException e) {
        return "";
      }
    }
  }

  private String overMtls() throws Exception {
    return Socks5Client.httpGet(mesh.workload("api-gateway-0").socks(),
        "orders.production.svc.cluster.local", 80, "/mtls", Mesh.TIMEOUT);
  }

  @Test
  void strictRefusesPlaintextAndKeepsMtls() throws Exception {
    mesh.apply(BASE + peerAuthentication("mtls: {mode: STRICT}\n"));

    assertThat(plaintext("strict")).as("closed without echo").isEmpty();
    assertThat(overMtls()).contains("\"workload\":\"orders-0\"");
    String line = mesh.node("node-b").awaitAccessLog(l -> l.contains("mTLS is STRICT"));
    assertThat(line).contains("\"level\":\"error\"").contains("\"response_flags\":\"DENY\"")
        .contains("\"authz.policy\":\"PeerAuthentication STRICT\"")
        .contains("\"dst.addr\":\"" + P + ".2.10:9000\"");
    assertThat(HostModeTrafficTest.sum(mesh.node("node-b").metrics(),
        "istio_tcp_connections_closed_total", "connection_security_policy=\"unknown\"",
        "response_flags=\"DENY\"")).isPositive();
  }

  @Test
  void permissiveAcceptsPlaintextAndMtls() throws Exception {
    mesh.apply(BASE + peerAuthentication("mtls: {mode: PERMISSIVE}\n"));

    assertThat(plaintext("permissive")).isEqualTo("permissive");
    assertThat(overMtls()).contains("\"workload\":\"orders-0\"");
  }

  @Test
  void disableAcceptsPlaintextAndAmbientKeepsMtls() throws Exception {
    mesh.apply(BASE + peerAuthentication("mtls: {mode: DISABLE}\n"));

    assertThat(plaintext("disable")).isEqualTo("disable");
    assertThat(overMtls()).as("ambient ignores DISABLE for HBONE")
        .contains("\"workload\":\"orders-0\"");
  }

  @Test
  void portLevelOverrideOnASelectorPolicy() throws Exception {
    mesh.apply(BASE + peerAuthentication("mtls: {mode: STRICT}\n") + """
        ---
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: orders-legacy-port
          namespace: production
        spec:
          selector:
            matchLabels:
              app: orders
          mtls:
            mode: UNSET
          portLevelMtls:
            "9000":
              mode: PERMISSIVE
        """);

    assertThat(plaintext("port-9000")).isEqualTo("port-9000");
  }

  @Test
  void peersWithAForeignCaAnExpiredCertificateOrAnotherTrustDomainAreRefusedAndCounted()
      throws Exception {
    mesh.apply(BASE);
    double before = failures();
    LocalCertificateAuthority foreign = LocalCertificateAuthority.create("cluster.local");
    WorkloadCertificate foreignCert = foreign.issue(GATEWAY, Duration.ofHours(1));
    KeyPair kp = ecKeyPair();
    List<WorkloadCertificate> bad = List.of(
        new WorkloadCertificate(GATEWAY, foreignCert.chain(), foreignCert.privateKey(),
            mesh.ca().trustBundle()),
        new WorkloadCertificate(GATEWAY,
            List.of(mesh.ca().sign(GATEWAY, kp.getPublic(), Duration.ofSeconds(-30))),
            kp.getPrivate(), mesh.ca().trustBundle()),
        mesh.ca().issue(new SpiffeId("evil.example", "production", "api-gateway"),
            Duration.ofHours(1)));

    for (WorkloadCertificate cert : bad) {
      try (HboneClient client = new HboneClient(HboneClientConfig.defaults(), mesh.transport(),
          mesh.group(), id -> CompletableFuture.completedFuture(cert))) {
        CompletableFuture<?> f = client.connect(new ConnectTarget(cert.identity(), Set.of(ORDERS),
            new InetSocketAddress(P + ".2.10", 15008), P + ".2.10:9000"));
        assertThatThrownBy(() -> f.get(10, TimeUnit.SECONDS)).as("%s", cert)
            .hasMessageNotContaining("TimeoutException");
      }
    }

    long deadline = System.nanoTime() + Mesh.TIMEOUT.toNanos();
    while (failures() < before + 3 && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    String metrics = mesh.node("node-b").metrics();
    assertThat(failures()).as("TLS failures counted:\n%s", metrics.lines()
        .filter(l -> l.startsWith("ambientj_tcp_connections_failed")).toList())
        .isGreaterThanOrEqualTo(before + 3);
    for (String reason : List.of("untrusted_certificate", "expired_certificate",
        "trust_domain_mismatch")) {
      assertThat(HostModeTrafficTest.sum(metrics, "ambientj_tcp_connections_failed_total",
          "reason=\"" + reason + "\"")).as("%s in %s; access log %s", reason,
          metrics.lines().filter(l -> l.startsWith("ambientj_tcp_connections_failed")).toList(),
          mesh.node("node-b").accessLog.lines().stream()
              .filter(l -> l.contains("TLS handshake")).toList()).isPositive();
    }
    mesh.node("node-b").awaitAccessLog(l -> l.contains("TLS handshake failed")
        && l.contains("\"response_flags\":\"TLS_FAILURE\""));
  }

  private double failures() throws Exception {
    return HostModeTrafficTest.sum(mesh.node("node-b").metrics(),
        "ambientj_tcp_connections_failed_total", "response_flags=\"TLS_FAILURE\"");
  }

  private static KeyPair ecKeyPair() throws Exception {
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(new ECGenParameterSpec("secp256r1"));
    return g.generateKeyPair();
  }
}
