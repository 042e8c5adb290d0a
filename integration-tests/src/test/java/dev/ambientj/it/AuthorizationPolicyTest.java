package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambientj.launcher.demo.Socks5Client;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * L4 AuthorizationPolicy at the destination ztunnel, Istio's semantics, over real mTLS (example
 * mesh at 127.41.x, payment-service WITHOUT its waypoint so ztunnel enforces selector policies):
 * api-gateway-0 (node-a) and orders-0 (node-b) call the payment pods on node-b.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AuthorizationPolicyTest {
  private static final String P = "127.41";
  private static final String GATEWAY_ID = "spiffe://cluster.local/ns/production/sa/api-gateway";
  private static final String PAYMENT = "payment-service.production.svc.cluster.local";
  private static final String BASE = TestMeshes.example(P)
      .replace("istio.io/use-waypoint: payment-waypoint", "app.kubernetes.io/part-of: shop");
  /** The seed's payment-access (seed-examples/payment.yaml), selector-based. */
  private static final String PAYMENT_ACCESS = policy("payment-access", """
      selector:
        matchLabels:
          app: payment-service
      rules:
      - from:
        - source:
            principals: ["cluster.local/ns/production/sa/api-gateway"]
      """);

  private int fdBaseline;
  private Mesh mesh;
  private InetSocketAddress gateway;
  private InetSocketAddress orders;

  @BeforeAll
  void startMesh() throws Exception {
    fdBaseline = OpenFiles.count();
    mesh = Mesh.fromYaml(BASE);
    mesh.node("node-a").ztunnel();
    mesh.node("node-b").binder(new RedirectingBinder(Map.of(
        new InetSocketAddress(P + ".2.20", 15006), new InetSocketAddress(P + ".2.20", 9000))))
        .ztunnel();
    mesh.workload("payment-v1-0").httpEcho(8080).tcpEcho(9000);
    mesh.workload("payment-v2-0").httpEcho(8080);
    gateway = mesh.workload("api-gateway-0").socks();
    orders = mesh.workload("orders-0").socks();
  }

  @AfterAll
  void stopMesh() throws Exception {
    mesh.close();
    assertThat(OpenFiles.awaitBaseline(fdBaseline, Mesh.TIMEOUT))
        .isLessThanOrEqualTo(fdBaseline + OpenFiles.SLACK);
  }

  static String policy(String name, String spec) {
    return """
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: %s
          namespace: production
        spec:
        %s
        """.formatted(name, spec.indent(2).stripTrailing());
  }

  private String get(InetSocketAddress socks, String path) throws Exception {
    return Socks5Client.httpGet(socks, PAYMENT, 80, path, Mesh.TIMEOUT);
  }

  private static void assertRefused(ThrowingCall call) {
    long start = System.nanoTime();
    assertThatThrownBy(call::run).isInstanceOfSatisfying(Socks5Client.Socks5Exception.class,
        e -> assertThat(e.reply()).as("SOCKS5 reply 2: not allowed by ruleset").isEqualTo(2));
    assertThat(System.nanoTime() - start).as("refused, not timed out")
        .isLessThan(Mesh.TIMEOUT.toNanos() / 2);
  }

  @FunctionalInterface
  interface ThrowingCall {
    void run() throws Exception;
  }

  @Test
  void seedPaymentAccessLetsOnlyTheApiGatewayReachPayment() throws Exception {
    mesh.apply(BASE + PAYMENT_ACCESS);

    assertThat(get(gateway, "/pay")).contains("\"peer\":\"" + GATEWAY_ID + "\"");
    assertRefused(() -> get(orders, "/pay"));

    String allowed = mesh.node("node-b").awaitAccessLog(l -> l.contains("\"direction\":\"inbound\"")
        && l.contains("\"src.identity\":\"" + GATEWAY_ID + "\"")
        && l.contains("\"authz.policy\":\"production/payment-access\""));
    assertThat(allowed).doesNotContain("response_flags");
    String denied = mesh.node("node-b").awaitAccessLog(l -> l.contains("\"direction\":\"inbound\"")
        && l.contains("sa/orders\"") && l.contains("RBAC: denied: no ALLOW policy matched"));
    assertThat(denied).contains("\"level\":\"error\"").contains("\"response_flags\":\"DENY\"");
    String metrics = mesh.node("node-b").metrics();
    assertThat(HostModeTrafficTest.sum(metrics, "istio_tcp_connections_closed_total",
        "reporter=\"destination\"", "response_flags=\"DENY\"",
        "source_principal=\"spiffe://cluster.local/ns/production/sa/orders\"")).isPositive();
    assertThat(HostModeTrafficTest.sum(metrics, "ambientj_authorization_decisions_total",
        "decision=\"deny\"", "phase=\"connect\"")).isPositive();
    mesh.node("node-a").awaitAccessLog(l -> l.contains("\"direction\":\"outbound\"")
        && l.contains("\"response_flags\":\"DENY\""));
  }

  @Test
  void denyOnANamespaceBeatsAnAllowForTheCaller() throws Exception {
    mesh.apply(BASE + PAYMENT_ACCESS + policy("no-production", """
        action: DENY
        rules:
        - from:
          - source:
              namespaces: ["production"]
        """));

    assertRefused(() -> get(gateway, "/deny-beats-allow"));
    mesh.node("node-b").awaitAccessLog(l -> l.contains("\"src.identity\":\"" + GATEWAY_ID + "\"")
        && l.contains("\"authz.policy\":\"production/no-production\"")
        && l.contains("RBAC: denied by production/no-production"));
  }

  @Test
  void portsRuleAllowsOnlyTheListedTargetPort() throws Exception {
    mesh.apply(BASE + policy("http-only", """
        selector:
          matchLabels:
            app: payment-service
        rules:
        - to:
          - operation:
              ports: ["8080"]
        """));

    assertThat(get(gateway, "/port-8080")).contains("\"workload\":\"payment-v");
    assertRefused(() -> Socks5Client.connect(gateway, P + ".2.20", 9000, Mesh.TIMEOUT).close());
  }

  @Test
  void ipBlocksRuleMatchesTheSourceAddressOfPlaintextInbound() throws Exception {
    mesh.apply(BASE + policy("from-trusted-host", """
        selector:
          matchLabels:
            app: payment-service
        rules:
        - from:
          - source:
              ipBlocks: ["%s.200.9/32"]
        """.formatted(P)));

    assertThat(plaintextEcho(P + ".200.9", "trusted")).isEqualTo("trusted");
    assertThat(plaintextEcho(P + ".200.8", "other")).as("closed without echo").isEmpty();
    mesh.node("node-b").awaitAccessLog(l -> l.contains("\"src.addr\":\"" + P + ".200.8:")
        && l.contains("\"response_flags\":\"DENY\""));
  }

  @Test
  void policyWithOnlyL7FieldsFailsSafeAtZtunnel() throws Exception {
    // ALLOW with methods: the rule never matches at ztunnel, so even a GET is denied.
    mesh.apply(BASE + policy("get-only", """
        selector:
          matchLabels:
            app: payment-service
        rules:
        - to:
          - operation:
              methods: ["GET"]
        """));
    assertRefused(() -> get(gateway, "/a-get"));

    // DENY with paths: the L7 part is ignored, so every connection from production is denied.
    mesh.apply(BASE + policy("no-admin", """
        selector:
          matchLabels:
            app: payment-service
        action: DENY
        rules:
        - from:
          - source:
              namespaces: ["production"]
          to:
          - operation:
              paths: ["/admin"]
        """));
    assertRefused(() -> get(gateway, "/not-admin"));
    mesh.node("node-b").awaitAccessLog(l -> l.contains("\"authz.policy\":\"production/no-admin\""));

    // The same DENY from another namespace leaves production callers alone.
    mesh.apply(BASE + policy("no-admin", """
        selector:
          matchLabels:
            app: payment-service
        action: DENY
        rules:
        - from:
          - source:
              namespaces: ["test"]
          to:
          - operation:
              paths: ["/admin"]
        """));
    assertThat(get(gateway, "/admin")).contains("\"workload\":\"payment-v");
  }

  @Test
  void policyChangeClosesADeniedLongLivedConnectionAndKeepsTheAllowedOne() throws Exception {
    mesh.apply(BASE);
    try (Socket allowed = Socks5Client.connect(gateway, P + ".2.20", 9000, Mesh.TIMEOUT);
        Socket denied = Socks5Client.connect(orders, P + ".2.20", 9000, Mesh.TIMEOUT)) {
      allowed.setSoTimeout(5_000);
      denied.setSoTimeout(5_000);
      assertThat(echo(allowed, "before-a")).isEqualTo("before-a");
      assertThat(echo(denied, "before-o")).isEqualTo("before-o");

      long start = System.nanoTime();
      mesh.apply(BASE + PAYMENT_ACCESS);

      assertThat(readUntilClosed(denied)).as("orders' connection is closed").isTrue();
      assertThat(System.nanoTime() - start).as("closed within a second or so")
          .isLessThan(3_000_000_000L);
      for (int i = 0; i < 5; i++) {
        assertThat(echo(allowed, "after-" + i)).isEqualTo("after-" + i);
      }
    }
    String line = mesh.node("node-b").awaitAccessLog(
        l -> l.contains("connection closed due to policy change"));
    assertThat(line).contains("sa/orders").contains("\"response_flags\":\"DENY\"");
    assertThat(HostModeTrafficTest.sum(mesh.node("node-b").metrics(),
        "ambientj_authorization_decisions_total", "phase=\"policy_change\"")).isPositive();
  }

  private static String echo(Socket s, String text) throws IOException {
    s.getOutputStream().write(text.getBytes(StandardCharsets.US_ASCII));
    s.getOutputStream().flush();
    byte[] buf = new byte[text.length()];
    InputStream in = s.getInputStream();
    int n = 0;
    while (n < buf.length) {
      int r = in.read(buf, n, buf.length - n);
      if (r < 0) {
        break;
      }
      n += r;
    }
    return new String(buf, 0, n, StandardCharsets.US_ASCII);
  }

  /** True when the peer closes (EOF or reset) before the socket's read timeout. */
  private static boolean readUntilClosed(Socket s) throws IOException {
    try {
      InputStream in = s.getInputStream();
      while (in.read() >= 0) {
        // drain
      }
      return true;
    } catch (SocketTimeoutException e) {
      return false;
    } catch (IOException e) {
      return true; // reset
    }
  }

  private String plaintextEcho(String sourceIp, String text) throws IOException {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(sourceIp, 0));
      s.connect(new InetSocketAddress(P + ".2.20", 15006), 5000);
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
}
