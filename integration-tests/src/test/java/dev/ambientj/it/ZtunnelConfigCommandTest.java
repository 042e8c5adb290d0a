package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.launcher.demo.Socks5Client;
import dev.ambientj.launcher.inspect.ZtunnelConfigCommand;
import dev.ambientj.ztunnel.Ztunnel;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code mesh ztunnel-config} against a running ztunnel's admin endpoint (the example mesh moved
 * to 127.93.x, plus two AuthorizationPolicies): the rows istioctl's columns would show, filters,
 * {@code -o json} read back with {@code -f}, and the errors an operator meets.
 */
class ZtunnelConfigCommandTest {
  private static final String P = "127.93";
  private static final String POLICIES = """
      ---
      apiVersion: security.istio.io/v1
      kind: AuthorizationPolicy
      metadata:
        name: orders-from-gateway
        namespace: production
      spec:
        selector:
          matchLabels:
            app: orders
        action: ALLOW
        rules:
        - from:
          - source:
              principals: ["cluster.local/ns/production/sa/api-gateway"]
      ---
      apiVersion: security.istio.io/v1
      kind: AuthorizationPolicy
      metadata:
        name: deny-legacy
        namespace: istio-system
      spec:
        action: DENY
        rules:
        - from:
          - source:
              namespaces: ["legacy"]
      """;

  static Mesh mesh;
  static String admin;

  @BeforeAll
  static void start() throws Exception {
    mesh = Mesh.fromYaml(TestMeshes.example(P) + POLICIES);
    Ztunnel nodeB = mesh.node("node-b").ztunnel();
    admin = nodeB.adminAddress().getAddress().getHostAddress() + ":" + nodeB.adminAddress().getPort();
  }

  @AfterAll
  static void stop() throws Exception {
    if (mesh != null) {
      mesh.close();
    }
  }

  record Run(int exit, String out, String err) {
    List<String> lines() {
      return out.lines().toList();
    }
  }

  static Run mesh(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int exit = ZtunnelConfigCommand.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
    return new Run(exit, out.toString(), err.toString());
  }

  @Test
  void workloadsHaveIstioctlsColumnsAndFilters() {
    Run r = mesh("workloads", "--admin", admin);
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.lines().get(0)).matches("NAMESPACE +POD NAME +ADDRESS +NODE +WAYPOINT +PROTOCOL");
    assertThat(r.lines()).anyMatch(l -> l.matches("production +orders-0 +" + P.replace(".", "\\.")
        + "\\.2\\.10 +node-b +None +HBONE"));
    assertThat(r.lines()).anyMatch(l -> l.matches("production +api-gateway-0 +" + P.replace(".", "\\.")
        + "\\.1\\.10 +node-a +None +HBONE"));

    Run onA = mesh("w", "--admin", admin, "--node", "node-a");
    assertThat(onA.lines()).hasSize(3).allMatch(l -> l.startsWith("NAMESPACE") || l.contains(" node-a "))
        .anyMatch(l -> l.contains("api-gateway-0")).anyMatch(l -> l.contains("payment-waypoint-0"));
    Run byAddress = mesh("workload", "--admin", admin, "--address", P + ".2.10");
    assertThat(byAddress.lines()).hasSize(2).last().asString().contains("orders-0");
  }

  @Test
  void servicesCountHealthyEndpointsAndShowTheirWaypoint() {
    Run r = mesh("svc", "--admin", admin, "--service-namespace", "production");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.lines().get(0)).matches("NAMESPACE +SERVICE NAME +SERVICE VIP +WAYPOINT +ENDPOINTS");
    assertThat(r.lines()).anyMatch(l -> l.matches("production +orders +" + P.replace(".", "\\.")
        + "\\.10\\.\\d+ +None +1/1"));
    assertThat(r.lines()).anyMatch(l -> l.matches("production +payment-service +\\S+ +payment-waypoint +2/2"));
  }

  @Test
  void policiesShowActionAndScope() {
    Run r = mesh("policies", "--admin", admin);
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.lines()).contains(r.lines().get(0))
        .anyMatch(l -> l.matches("production +orders-from-gateway +Allow +WorkloadSelector"))
        .anyMatch(l -> l.matches("istio-system +deny-legacy +Deny +Global"));
  }

  @Test
  void certificatesOfTheNodesWorkloadsAreValidLeavesAndRoots() {
    Run r = mesh("certs", "--admin", admin);
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.lines().get(0)).matches(
        "CERTIFICATE NAME +TYPE +STATUS +VALID CERT +SERIAL NUMBER +NOT AFTER +NOT BEFORE");
    assertThat(r.lines()).anyMatch(l -> l.matches(
        "spiffe://cluster\\.local/ns/production/sa/orders +Leaf +Available +true +[0-9a-f]+ +\\S+ +\\S+"));
    assertThat(r.lines()).anyMatch(l -> l.matches(
        "spiffe://cluster\\.local/ns/production/sa/orders +Root +Available +true +[0-9a-f]+ +\\S+ +\\S+"));
  }

  @Test
  void connectionsListWhatIsOpenNowOnBothEnds() throws Exception {
    mesh.workload("orders-0").tcpEcho(9000);
    Ztunnel nodeA = mesh.node("node-a").ztunnel();
    String adminA = nodeA.adminAddress().getAddress().getHostAddress() + ":" + nodeA.adminAddress().getPort();
    String ordersIp = P + ".2.10";
    try (Socket open = Socks5Client.connect(mesh.workload("api-gateway-0").socks(), ordersIp, 9000,
        Duration.ofSeconds(10))) {
      open.getOutputStream().write("ping".getBytes(StandardCharsets.US_ASCII));
      open.setSoTimeout(5_000);
      assertThat(new String(open.getInputStream().readNBytes(4), StandardCharsets.US_ASCII))
          .isEqualTo("ping");
      String q = Pattern.quote(ordersIp + ":9000");
      Run out = mesh("connections", "--admin", adminA);
      assertThat(out.exit()).as(out.err()).isZero();
      assertThat(out.lines().get(0))
          .matches("WORKLOAD +DIRECTION +LOCAL +REMOTE +REMOTE TARGET +PROTOCOL");
      assertThat(out.lines()).as(out.out()).anyMatch(l -> l.matches(
          "api-gateway-0\\.production +Outbound +\\S+:\\d+ +" + q
              + " +" + q + " +HBONE"));
      Run in = mesh("cons", "--admin", admin, "--direction", "inbound");
      assertThat(in.lines()).as(in.out()).anyMatch(l -> l.matches(
          "orders-0\\.production +Inbound +" + q + " +\\S+:\\d+ +\\S* *HBONE"));
      assertThat(mesh("connections", "--admin", admin, "--direction", "outbound").lines())
          .as("nothing leaves node-b").hasSize(1);
      Run json = mesh("connections", "--admin", adminA, "-o", "json", "--workload", "api-gateway-0");
      assertThat(json.out()).contains("\"direction\" : \"outbound\"").contains("\"protocol\" : \"HBONE\"");
    }
    // closed: the rows go once both ends have seen the close
    Instant deadline = Instant.now().plusSeconds(10);
    while (mesh("connections", "--admin", admin).lines().size() > 1
        || mesh("connections", "--admin", adminA).lines().size() > 1) {
      assertThat(Instant.now()).as("connections still listed after close").isBefore(deadline);
      Thread.sleep(50);
    }
  }

  @Test
  void logShowsAndSetsTheLevelsOfTheRunningZtunnel() {
    Run shown = mesh("log", "--admin", admin);
    assertThat(shown.exit()).as(shown.err()).isZero();
    assertThat(shown.out()).contains("dev.ambientj.ztunnel: ");
    try {
      Run set = mesh("log", "--admin", admin, "--level", "dev.ambientj.ztunnel.admin:debug");
      assertThat(set.exit()).as(set.err()).isZero();
      assertThat(set.out()).contains("dev.ambientj.ztunnel.admin: debug");
      assertThat(mesh("log", "--admin=" + admin).out()).contains("dev.ambientj.ztunnel.admin: debug");
      Run bad = mesh("log", "--admin", admin, "--level", "loud");
      assertThat(bad.exit()).isEqualTo(1);
      assertThat(bad.err()).contains("400").contains("loud");
      Run malformed = mesh("log", "--admin", admin, "--level", "dev.ambientj.ztunnel:");
      assertThat(malformed.exit()).isEqualTo(2);
      assertThat(malformed.err()).contains("SCOPE:LEVEL");
    } finally {
      Run reset = mesh("log", "--admin", admin, "-r");
      assertThat(reset.exit()).as(reset.err()).isZero();
      assertThat(reset.out()).doesNotContain(": debug");
    }
  }

  @Test
  void allAsJsonReadsBackWithDashF(@TempDir Path dir) throws Exception {
    Run json = mesh("all", "--admin", admin, "-o", "json");
    assertThat(json.exit()).as(json.err()).isZero();
    Path saved = dir.resolve("dump.json");
    Files.writeString(saved, json.out());
    for (String section : List.of("workloads", "services", "policies", "connections")) {
      assertThat(mesh(section, "-f", saved.toString()).out()).as(section)
          .isEqualTo(mesh(section, "--admin", admin).out());
    }
    Run yaml = mesh("policies", "-f", saved.toString(), "-o", "yaml");
    assertThat(yaml.out()).contains("name: \"orders-from-gateway\"").contains("scope: \"WorkloadSelector\"");
    Run all = mesh("all", "-f", saved.toString());
    assertThat(all.out()).contains("POD NAME").contains("SERVICE VIP").contains("POLICY NAME")
        .contains("CERTIFICATE NAME");
  }

  @Test
  void anOperatorsMistakesGetAClearAnswer() {
    Run down = mesh("workloads", "--admin", P + ".100.9:15000");
    assertThat(down.exit()).isEqualTo(1);
    assertThat(down.err()).contains("cannot reach http://" + P + ".100.9:15000/config_dump")
        .contains("--admin");
    Run badFlag = mesh("workloads", "--admn", admin);
    assertThat(badFlag.exit()).isEqualTo(2);
    assertThat(badFlag.err()).contains("Unknown option").contains("'--admn'")
        .contains("Possible solutions: --admin");
    Run badFormat = mesh("workloads", "--admin", admin, "-o", "wide");
    assertThat(badFormat.exit()).isEqualTo(2);
    assertThat(badFormat.err()).contains("--output").contains("SHORT, JSON, YAML").contains("'wide'");
    assertThat(mesh("--help").exit()).isZero();
    assertThat(mesh("workloads", "--help").out()).contains("Usage: mesh ztunnel-config workloads")
        .contains("--workload-namespace");
    assertThat(mesh("workloads", "--admin=" + admin).exit()).as("--flag=value").isZero();
  }
}
