package dev.ambientj.config.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.ca.CaClient;
import dev.ambientj.config.ca.ControlPlaneTls;
import dev.ambientj.config.ca.CsrFactory;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.xds.ProxyNode;
import dev.ambientj.config.xds.XdsConfigSource;
import io.grpc.Status;
import io.netty.handler.ssl.SslContext;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code mesh config-server --listen-tls}: the server proves itself with a certificate of its own
 * CA; xDS needs the proxy's workload certificate, the CA takes a node token alone (how a proxy
 * gets that certificate in the first place).
 */
class ConfigServerTlsTest {
  private static final String GATEWAY = "spiffe://cluster.local/ns/production/sa/api-gateway";

  @TempDir Path tmp;
  ConfigServerCommand.Running running;
  List<X509Certificate> roots;
  final ByteArrayOutputStream printed = new ByteArrayOutputStream();

  private static Path examples() {
    Path dir = Path.of("").toAbsolutePath();
    while (!Files.isDirectory(dir.resolve("examples"))) {
      dir = dir.getParent();
    }
    return dir.resolve("examples");
  }

  @BeforeEach
  void start() throws Exception {
    Path state = tmp.resolve("state");
    running = ConfigServerCommand.start(new String[] {
        "--config", examples().resolve("mesh.yaml").toString(), "--state-dir", state.toString(),
        "--listen", "127.0.0.1:0", "--listen-tls", "127.0.0.1:0"},
        new PrintStream(printed, true));
    roots = ControlPlaneTls.parseCertificates(Files.readString(running.state().trustBundleFile()));
  }

  @AfterEach
  void stop() {
    running.close();
  }

  private String tlsTarget() {
    return "127.0.0.1:" + running.tlsServer().address().getPort();
  }

  /** A workload certificate from the CA over TLS, authenticated by node-a's token only. */
  private CsrFactory.Generated bootstrapCertificate(List<String>[] chainOut) throws Exception {
    CsrFactory.Generated csr = CsrFactory.create(GATEWAY);
    try (CaClient ca = CaClient.builder(tlsTarget())
        .tls(ControlPlaneTls.client(roots, null, null))
        .tokenFile(running.tokens().tokenFile("node-a")).build()) {
      chainOut[0] = ca.fetchCertificate(csr.csrPem(), Duration.ofHours(1), GATEWAY)
          .get(10, TimeUnit.SECONDS);
    }
    return csr;
  }

  @Test
  void aSubscriberWithItsWorkloadCertificateGetsTheSnapshotOverMtls() throws Exception {
    assertThat(printed.toString()).contains("TLS as istiod.istio-system.svc");
    @SuppressWarnings("unchecked")
    List<String>[] chain = new List[1];
    CsrFactory.Generated key = bootstrapCertificate(chain);
    List<X509Certificate> certs = ControlPlaneTls.parseCertificates(String.join("\n", chain[0]));
    SslContext tls = ControlPlaneTls.client(roots, key.keyPair().getPrivate(), certs);

    SnapshotPublisher snapshots = new SnapshotPublisher();
    try (XdsConfigSource xds = XdsConfigSource.builder(running.tlsServer().address(),
            ProxyNode.node("ztunnel", "127.0.100.1", "ztunnel-a", "istio-system", "node-a"),
            snapshots)
        .tls(tls).bearerToken(Files.readString(running.tokens().tokenFile("node-a")).strip())
        .start()) {
      MeshSnapshot s = xds.ready().get(10, TimeUnit.SECONDS);
      assertThat(s.workloads()).hasSameSizeAs(running.publisher().snapshot().workloads());
      assertThat(s.findNode("node-a")).isPresent();
    }
  }

  @Test
  void aSubscriberWithoutAClientCertificateIsRefused() throws Exception {
    Status status = firstAnswer(ControlPlaneTls.client(roots, null, null));
    assertThat(status.getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(status.getDescription()).contains("client certificate");
  }

  @Test
  void aClientThatDoesNotTrustTheMeshCaDoesNotConnect() throws Exception {
    // Another CA's root: the server's certificate does not verify.
    List<X509Certificate> otherRoots =
        dev.ambientj.config.ca.CertificateAuthority.inMemory("cluster.local").trustBundle();
    Status status = firstAnswer(ControlPlaneTls.client(otherRoots, null, null));
    assertThat(status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
  }

  /** How the server answers a delta-ADS stream opened with {@code tls}: a response is OK. */
  private Status firstAnswer(SslContext tls) throws Exception {
    return XdsProbe.firstAnswer(tlsTarget(), tls, ControlPlaneTls.SERVER_NAME, null);
  }
}
