package dev.ambientj.waypoint.identity;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.ProxyConfigSources;
import dev.ambientj.config.ca.CaClient;
import dev.ambientj.config.ca.ControlPlaneTls;
import dev.ambientj.config.server.ConfigServerCommand;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.hbone.identity.WorkloadCertificate;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The waypoint's certificate from a real config server's CA, over TLS, with a bearer token. */
class CaCertificatesTest {
  @TempDir Path tmp;

  @Test
  void fetchesItsOwnIdentityOverTlsAndServesItFromMemoryAfterwards() throws Exception {
    Path mesh = Files.writeString(tmp.resolve("mesh.yaml"), """
        apiVersion: v1
        kind: Node
        metadata: {name: node-w}
        status: {addresses: [{type: InternalIP, address: 127.78.3.1}]}
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          name: payment-wp-0
          namespace: shop
          labels: {gateway.networking.k8s.io/gateway-name: payment-wp}
        spec: {nodeName: node-w, serviceAccountName: payment-wp, containers: [{name: w, image: w}]}
        status: {phase: Running, podIP: 127.78.3.10}
        """);
    try (ConfigServerCommand.Running server = ConfigServerCommand.start(new String[] {
        "--config", mesh.toString(), "--state-dir", tmp.resolve("state").toString(),
        "--listen", "127.78.3.1:0", "--listen-tls", "127.78.3.1:0"},
        new PrintStream(new ByteArrayOutputStream(), true))) {
      Path root = server.state().trustBundleFile();
      // the node token stands in for the pod's projected token (the single-machine mode)
      Path token = server.tokens().tokenFile("node-w");
      SpiffeId id = SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/payment-wp");
      try (CaClient ca = CaClient.builder("127.78.3.1:" + server.tlsServer().address().getPort())
              .tls(ControlPlaneTls.client(ProxyConfigSources.readRoots(root), null, null))
              .tokenFile(token).build();
          CaCertificates certificates = new CaCertificates(ca, Duration.ofHours(1))) {
        WorkloadCertificate c = certificates.fetchCertificate(id).get(20, TimeUnit.SECONDS);
        assertThat(c.identity()).isEqualTo(id);
        assertThat(c.leaf().getSubjectAlternativeNames().toString()).contains(id.toString());
        assertThat(c.trustBundle().roots()).containsExactlyElementsOf(ProxyConfigSources.readRoots(root));
        assertThat(certificates.fetchCertificate(id).getNow(null)).as("held, not fetched again").isSameAs(c);
      }
    }
  }
}
