package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.launcher.demo.HttpOverSocks;
import dev.ambientj.launcher.demo.HttpOverSocks.Response;
import dev.ambientj.waypoint.Waypoint;
import dev.ambientj.ztunnel.Ztunnel;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fail closed, file mode: two ztunnels on the example mesh read the mesh and a policies file that
 * the test rewrites while they run, badly in every way an operator or a tool can (issue 15, item 1
 * and 2). Two callers keep connecting to a payment pod's TCP echo ({@link AccessProbe}): orders,
 * whom the policy denies, and api-gateway, whom it allows. Through every bad write the denied
 * caller stays denied and the allowed one allowed; each write is reported as a rejection in
 * ztunnel's config dump and metrics; only a valid file that allows orders lets orders in.
 *
 * <p>Example mesh at 127.71.x (payment-service without its waypoint, so that ztunnel enforces the
 * selector policy) and, for the route test, at 127.72.x with the payment waypoint.
 */
class FailClosedConfigFileTest {
  private static final Duration BOUND = Duration.ofSeconds(20);

  @TempDir Path dir;

  @Test
  void theDeniedCallerStaysDeniedThroughEveryBadWriteUntilAValidFileAllowsIt() throws Exception {
    String p = "127.71";
    Path meshFile = dir.resolve("mesh.yaml");
    Path policies = dir.resolve("policies.yaml");
    Files.writeString(meshFile, TestMeshes.example(p)
        .replace("istio.io/use-waypoint: payment-waypoint", "app.kubernetes.io/part-of: shop"));
    Files.writeString(policies, PaymentAccessEdits.ONLY_GATEWAY);
    try (Mesh mesh = Mesh.fromFile(meshFile, policies)) {
      mesh.node("node-a").ztunnel();
      Ztunnel nodeB = mesh.node("node-b").ztunnel();
      mesh.workload("payment-v1-0").tcpEcho(9000);
      try (AccessProbe probe = new AccessProbe(mesh.workload("api-gateway-0").socks(),
          mesh.workload("orders-0").socks(), p + ".2.20", 9000).start("valid: only api-gateway")) {
        eventually("both callers tried under the valid policy", () -> probe.phases()
            .get("valid: only api-gateway").deniedAttempts.get() >= 3);

        for (Map.Entry<String, PaymentAccessEdits.BadWrite> bad :
            PaymentAccessEdits.badWrites().entrySet()) {
          probe.phase(bad.getKey());
          Files.write(policies, bad.getValue().bytes());
          eventually("ztunnel reports the rejection of: " + bad.getKey(),
              () -> dumpShows(nodeB, bad.getValue().rejection()));
          assertThat(nodeB.configDump()).contains("\"previousInForce\": true");
          settle(probe, bad.getKey());
        }

        // Half-written: 60 % of the file (cut inside a line), the rest a second later.
        String half = "half-written (60 %, the rest 1 s later)";
        probe.phase(half);
        PaymentAccessEdits.writeHalfThenTheRest(policies);
        eventually("the completed file applied",
            () -> nodeB.configDump().contains("\"rejections\": []"));

        String metrics = mesh.node("node-b").metrics();
        assertThat(HostModeTrafficTest.sum(metrics, "ambientj_config_rejected_total",
            "kind=\"AuthorizationPolicy\"")).isGreaterThanOrEqualTo(5);
        assertThat(HostModeTrafficTest.sum(metrics, "ambientj_config_rejected_total",
            "kind=\"File\"")).isGreaterThanOrEqualTo(2);
        assertThat(HostModeTrafficTest.sum(metrics, "ambientj_config_rejections",
            "kind=\"AuthorizationPolicy\"")).isZero();

        // Only now, a valid file that allows orders lets orders in.
        String valid = "valid: api-gateway and orders";
        AccessProbe.Counts allowed = probe.phase(valid);
        Files.writeString(policies, PaymentAccessEdits.GATEWAY_AND_ORDERS);
        eventually("orders is let in once a valid file allows it",
            () -> allowed.deniedLetIn.get() > 0);
        System.out.println("fail-closed, file mode, per write:\n" + probe.report());
        probe.phases().forEach((name, c) -> {
          if (!name.equals(valid)) {
            assertThat(c.deniedLetIn.get()).as("orders let in during: " + name).isZero();
          }
          assertThat(c.allowedRefused.get()).as("api-gateway refused during: " + name).isZero();
        });
      }
    }
  }

  @Test
  void theRouteInForceKeepsRoutingThroughTheWaypointAfterAnInvalidEdit() throws Exception {
    String p = "127.72";
    Path meshFile = dir.resolve("mesh.yaml");
    Path policies = dir.resolve("payment-policies.yaml");
    Files.writeString(meshFile, TestMeshes.example(p));
    String allToV1 = TestMeshes.relocate(TestMeshes.exampleFile("payment-policies.yaml"), p)
        .replace("max_tokens: 100", "max_tokens: 100000")
        .replace("tokens_per_fill: 100", "tokens_per_fill: 100000")
        .replace("weight: 95", "weight: 100").replace("weight: 5", "weight: 0");
    Files.writeString(policies, allToV1);
    try (Mesh mesh = Mesh.fromFile(meshFile, policies)) {
      mesh.node("node-a").ztunnel();
      Ztunnel nodeB = mesh.node("node-b").ztunnel();
      mesh.workload("payment-v1-0").httpEcho(8080);
      mesh.workload("payment-v2-0").httpEcho(8080);
      mesh.own(Waypoint.builder().name("payment-waypoint").namespace("production")
          .config(mesh.publisher())
          .identityProvider(mesh.ca().asIdentityProvider(Duration.ofHours(1)))
          .transport(mesh.transport()).eventLoopGroup(mesh.group()).build().start());
      InetSocketAddress socks = mesh.workload("api-gateway-0").socks();
      assertAllGoTo(socks, "payment-v1-0");

      Map<String, String> invalidEdits = Map.of(
          "spec.http[1].route[0].weight: -5 (expected 0..100)",
          allToV1.replace("weight: 100", "weight: -5").replace("weight: 0", "weight: 105"),
          "spec.http[1].match[0].uri.regex: \"(\" does not compile",
          allToV1.replace("  - name: canary\n", "  - name: canary\n    match:\n    - uri:\n"
              + "        regex: \"(\"\n"));
      for (Map.Entry<String, String> edit : invalidEdits.entrySet()) {
        Files.writeString(policies, edit.getValue());
        eventually("the edit is rejected: " + edit.getKey(), () -> dumpShows(nodeB,
            "VirtualService production/payment-service: " + edit.getKey()));
        assertAllGoTo(socks, "payment-v1-0");
      }

      Files.writeString(policies, allToV1.replace("weight: 100", "weight: V1")
          .replace("weight: 0", "weight: 100").replace("weight: V1", "weight: 0"));
      eventually("a valid edit applies", () -> nodeB.configDump().contains("\"rejections\": []"));
      assertAllGoTo(socks, "payment-v2-0");
    }
  }

  private static void assertAllGoTo(InetSocketAddress socks, String pod) throws Exception {
    long deadline = System.nanoTime() + BOUND.toNanos();
    int inARow = 0;
    String last = "";
    while (inARow < 10) {
      assertThat(System.nanoTime()).as("ten requests in a row to %s; last: %s", pod, last)
          .isLessThan(deadline);
      try (HttpOverSocks http = HttpOverSocks.open(socks,
          "payment-service.production.svc.cluster.local", 80, Mesh.TIMEOUT)) {
        Response r = http.get("/pay", Map.of());
        last = r.status() + " " + r.body();
        inARow = r.status() == 200 && r.body().contains("\"workload\":\"" + pod + "\"")
            ? inARow + 1 : 0;
      }
    }
  }

  /** Whether ztunnel's {@code /config_dump} (JSON) has {@code text} in one of its strings. */
  static boolean dumpShows(Ztunnel z, String text) {
    return z.configDump().contains(text.replace("\\", "\\\\").replace("\"", "\\\""));
  }

  /** Lets the probe try for a while after a write was taken in. */
  private static void settle(AccessProbe probe, String phase) throws InterruptedException {
    AccessProbe.Counts c = probe.phases().get(phase);
    long deniedBefore = c.deniedAttempts.get();
    eventually("a few more attempts during: " + phase,
        () -> c.deniedAttempts.get() >= deniedBefore + 3);
  }

  static void eventually(String what, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + BOUND.toNanos();
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("eventually: " + what).isLessThan(deadline);
      Thread.sleep(20);
    }
  }
}
