package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The capture listeners (15001 outbound, 15006 inbound plaintext) with a binder that plays the
 * kernel's REDIRECT: it reports the original destination a captured connection had (example mesh
 * moved to 127.23.x). Real capture comes with the CNI issue; the listeners and the lookup exist now.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CapturePathTest {
  private static final String P = "127.23";

  private int fdBaseline;
  private Mesh mesh;

  @BeforeAll
  void startMesh() throws Exception {
    fdBaseline = OpenFiles.count();
    mesh = Mesh.fromYaml(TestMeshes.example(P));
    mesh.node("node-a").binder(new RedirectingBinder(Map.of(
        new InetSocketAddress(P + ".1.10", 15001), new InetSocketAddress(P + ".10.10", 80))))
        .ztunnel();
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

  @Test
  void capturedOutboundGoesToTheOriginalDestinationOverHbone() throws Exception {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(P + ".1.10", 15001), 5000);
      s.setSoTimeout(10_000);
      s.getOutputStream().write(("GET /captured HTTP/1.1\r\nHost: orders\r\nConnection: close\r\n\r\n")
          .getBytes(StandardCharsets.US_ASCII));
      String response = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(response).startsWith("HTTP/1.1 200")
          .contains("\"workload\":\"orders-0\"")
          .contains("\"peer\":\"spiffe://cluster.local/ns/production/sa/api-gateway\"");
    }
    mesh.node("node-a").awaitAccessLog(l -> l.contains("\"direction\":\"outbound\"")
        && l.contains("\"dst.hbone_addr\":\"" + P + ".2.10:8080\""));
  }

  @Test
  void plaintextInboundIsAllowedWithoutIdentityAndReported() throws Exception {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(P + ".2.10", 15006), 5000);
      s.setSoTimeout(10_000);
      OutputStream out = s.getOutputStream();
      InputStream in = s.getInputStream();
      out.write("plaintext".getBytes(StandardCharsets.US_ASCII));
      s.shutdownOutput();
      String back = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
      Thread.sleep(200);
      assertThat(back).as("echo; node-b access log: %s", mesh.node("node-b").accessLog.lines())
          .isEqualTo("plaintext");
    }
    String line = mesh.node("node-b").awaitAccessLog(l -> l.contains("\"direction\":\"inbound\"")
        && l.contains("\"dst.addr\":\"" + P + ".2.10:9000\""));
    assertThat(line).doesNotContain("src.identity").doesNotContain("dst.hbone_addr")
        .contains("\"bytes_sent\":9").contains("\"bytes_recv\":9");
    assertThat(HostModeTrafficTest.sum(mesh.node("node-b").metrics(),
        "istio_tcp_connections_opened_total", "reporter=\"destination\"",
        "connection_security_policy=\"unknown\"", "destination_workload=\"orders-0\""))
        .isPositive();
  }

  @Test
  void capturedConnectionsToZtunnelsOwnPortsAreRefused() throws Exception {
    // Without a redirect entry the original destination is the listener itself: a self call.
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(P + ".2.10", 15001), 5000);
      s.setSoTimeout(10_000);
      assertThat(s.getInputStream().read()).isEqualTo(-1);
    }
    mesh.node("node-b").awaitAccessLog(l -> l.contains("SelfCall"));
  }
}
