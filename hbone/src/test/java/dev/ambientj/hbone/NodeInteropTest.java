package dev.ambientj.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.hbone.identity.WorkloadCertificate;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * An independent HTTP/2 implementation (Node.js's built-in {@code http2}, on nghttp2 and OpenSSL)
 * against our server: CONNECT over mutual TLS with a mesh certificate, 200, a working tunnel.
 * Skipped, with the reason printed, when {@code node} is not installed.
 */
@Timeout(60)
class NodeInteropTest {

  static TestMesh mesh;
  @TempDir static Path dir;
  static Path script;

  @BeforeAll
  static void start() throws Exception {
    String version = nodeVersion();
    Assumptions.assumeTrue(version != null, "node is not installed: skipping the Node.js HTTP/2 interop test");
    System.out.println("interop peer: node " + version);
    mesh = TestMesh.standard();
    WorkloadCertificate cert = mesh.certs.fetchCertificate(TestMesh.CLIENT_ID).join();
    Files.writeString(dir.resolve("key.pem"), cert.privateKeyPem());
    Files.writeString(dir.resolve("cert.pem"), cert.certificateChainPem());
    Files.writeString(dir.resolve("ca.pem"), mesh.ca.trustBundle().toPem());
    script = dir.resolve("hbone-connect.js");
    try (InputStream in = NodeInteropTest.class.getResourceAsStream("/node/hbone-connect.js")) {
      Files.write(script, in.readAllBytes());
    }
  }

  @AfterAll
  static void stop() throws Exception {
    if (mesh != null) {
      mesh.close();
    }
  }

  private static String nodeVersion() {
    try {
      Process p = new ProcessBuilder("node", "--version").redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
      return p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0 ? out : null;
    } catch (IOException | InterruptedException e) {
      return null;
    }
  }

  private static List<String> runNode(boolean withClientCert, String authority, String payload) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("node", script.toString(),
        "https://127.0.0.1:" + mesh.serverAddress.getPort(), authority,
        withClientCert ? dir.resolve("key.pem").toString() : "-",
        withClientCert ? dir.resolve("cert.pem").toString() : "-",
        dir.resolve("ca.pem").toString(), payload));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    System.out.println("node output:\n" + out);
    return out.lines().toList();
  }

  @Test
  void nodeConnectsThroughATunnelWithAMeshCertificate() throws Exception {
    mesh.requests.clear();
    List<String> out = runNode(true, "127.0.0.1:" + mesh.echoAddress.getPort(), "hello from node");
    assertThat(out).contains("STATUS 200", "ECHO hello from node");
    assertThat(out).anyMatch(l -> l.equals("PEER URI:" + TestMesh.SERVER_ID));
    assertThat(mesh.requests).singleElement()
        .satisfies(r -> assertThat(r.peerIdentity()).isEqualTo(TestMesh.CLIENT_ID));
  }

  @Test
  void nodeGets400ForAnAuthorityWithoutPort() throws Exception {
    List<String> out = runNode(true, "127.0.0.1", "x");
    assertThat(out).contains("STATUS 400");
  }

  @Test
  void nodeWithoutClientCertificateIsRefused() throws Exception {
    mesh.requests.clear();
    List<String> out = runNode(false, "127.0.0.1:" + mesh.echoAddress.getPort(), "x");
    assertThat(out).noneMatch(l -> l.startsWith("STATUS"));
    assertThat(out).anyMatch(l -> l.startsWith("ERROR"));
    assertThat(mesh.requests).isEmpty();
  }
}
