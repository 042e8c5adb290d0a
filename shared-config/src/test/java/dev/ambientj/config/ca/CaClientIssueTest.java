package dev.ambientj.config.ca;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.ProxyConfigSources;
import dev.ambientj.config.server.ConfigServerCommand;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.Signature;
import java.time.Duration;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A waypoint's certificate from a real config server's CA, over TLS, with a bearer token. */
class CaClientIssueTest {
  @TempDir Path tmp;

  @Test
  void issuesTheCallersOwnIdentityOverTlsForAKeyMadeHere() throws Exception {
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
      String id = "spiffe://cluster.local/ns/shop/sa/payment-wp";
      try (CaClient ca = CaClient.builder("127.78.3.1:" + server.tlsServer().address().getPort())
          .tls(ControlPlaneTls.client(ProxyConfigSources.readRoots(root), null, null))
          .tokenFile(token).build()) {
        CaClient.Issued issued = ca.issue(id, Duration.ofHours(1), ForkJoinPool.commonPool())
            .get(20, TimeUnit.SECONDS);

        assertThat(issued.chain().get(0).getSubjectAlternativeNames().toString()).contains(id);
        assertThat(issued.root()).isEqualTo(ProxyConfigSources.readRoots(root).get(0));
        issued.chain().get(0).verify(issued.root().getPublicKey());
        // the certificate is for the key made here
        Signature s = Signature.getInstance("SHA256withECDSA");
        s.initSign(issued.privateKey());
        s.update(new byte[] {1, 2, 3});
        byte[] signature = s.sign();
        s.initVerify(issued.chain().get(0));
        s.update(new byte[] {1, 2, 3});
        assertThat(s.verify(signature)).isTrue();
      }
    }
  }
}
