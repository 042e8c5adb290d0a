package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.server.waypoint.WaypointController;
import dev.ambientj.config.server.waypoint.WaypointSettings;
import dev.ambientj.launcher.inspect.WaypointAdminCommand;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentStatusBuilder;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.time.Duration;
import java.util.HashMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code mesh waypoint generate|apply|list|status|delete} against Fabric8's mock API server (CRUD)
 * with the config server's waypoint controller running on it: the Gateway istioctl would write, the
 * namespace enrolled, and Programmed once the controller sees its Deployment ready.
 */
class WaypointAdminCommandTest {
  private KubernetesMockServer api;
  private KubernetesClient admin;
  private WaypointController controller;

  @BeforeEach
  void start() {
    api = new KubernetesMockServer(new Context(Serialization.jsonMapper()), new MockWebServer(),
        new HashMap<>(), new KubernetesCrudDispatcher(), false);
    api.init(InetAddress.getLoopbackAddress(), 0);
    admin = api.createClient();
    admin.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName("shop")
        .addToLabels("istio.io/dataplane-mode", "ambient").endMetadata().build()).create();
    controller = new WaypointController(api.createClient(),
        new WaypointSettings("ambientj:test", "ambientj-config.ambientj-system.svc:15010")).start();
  }

  @AfterEach
  void stop() {
    controller.close();
    admin.close();
    api.destroy();
  }

  record Run(int exit, String out, String err) {}

  Run mesh(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int exit = WaypointAdminCommand.run(args, api::createClient, new PrintWriter(out, true),
        new PrintWriter(err, true));
    return new Run(exit, out.toString(), err.toString());
  }

  @Test
  void generatePrintsTheGatewayIstioctlWould() {
    Run r = mesh("generate", "-n", "shop", "--name", "reviews-wp", "--for", "workload");
    assertThat(r.exit()).as(r.err()).isZero();
    Gateway g = Serialization.unmarshal(r.out(), Gateway.class);
    assertThat(g.getMetadata().getNamespace()).isEqualTo("shop");
    assertThat(g.getMetadata().getName()).isEqualTo("reviews-wp");
    assertThat(g.getMetadata().getLabels()).containsEntry("istio.io/waypoint-for", "workload");
    assertThat(g.getSpec().getGatewayClassName()).isEqualTo("istio-waypoint");
    assertThat(g.getSpec().getListeners()).singleElement().satisfies(l -> {
      assertThat(l.getName()).isEqualTo("mesh");
      assertThat(l.getPort()).isEqualTo(15008);
      assertThat(l.getProtocol()).isEqualTo("HBONE");
    });
    assertThat(mesh("generate", "--for", "pods").exit()).isEqualTo(2);
  }

  @Test
  void applyEnrollsTheNamespaceAndWaitsUntilTheControllerProgramsIt() throws Exception {
    CompletableFuture<Run> applied = CompletableFuture.supplyAsync(
        () -> mesh("apply", "-n", "shop", "--enroll-namespace", "--wait", "--timeout", "30s"));
    Deployment d = eventually(() -> admin.apps().deployments().inNamespace("shop").withName("waypoint").get());
    assertThat(mesh("status", "-n", "shop").out()).contains("Programmed");
    assertThat(mesh("list", "-n", "shop").out()).matches("(?s)NAME +REVISION +TRAFFIC TYPE +PROGRAMMED\n"
        + "waypoint +default +service +(False|Unknown)\n");
    assertThat(applied).isNotDone();

    d.setStatus(new DeploymentStatusBuilder().withReplicas(1).withReadyReplicas(1).build());
    admin.resource(d).updateStatus();
    Run r = applied.get(30, TimeUnit.SECONDS);
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("waypoint shop/waypoint applied")
        .contains("namespace shop labeled with \"istio.io/use-waypoint: waypoint\"")
        .contains("waypoint shop/waypoint programmed");
    assertThat(admin.namespaces().withName("shop").get().getMetadata().getLabels())
        .containsEntry("istio.io/use-waypoint", "waypoint");
    assertThat(mesh("list", "-A").out()).matches("(?s)NAMESPACE +NAME +REVISION +TRAFFIC TYPE +PROGRAMMED\n"
        + "shop +waypoint +default +service +True\n");
    assertThat(mesh("status", "-n", "shop", "--name", "waypoint").out())
        .containsPattern("shop +waypoint +True +Programmed");

    Run other = mesh("apply", "-n", "shop", "--name", "second", "--enroll-namespace");
    assertThat(other.exit()).isEqualTo(1);
    assertThat(other.err()).contains("already uses waypoint waypoint").contains("--overwrite");

    Run deleted = mesh("delete", "-n", "shop", "--all");
    assertThat(deleted.exit()).as(deleted.err()).isZero();
    assertThat(deleted.out()).contains("waypoint shop/waypoint deleted").contains("waypoint shop/second deleted");
    assertThat(mesh("list", "-A").err()).contains("No waypoints found");
  }

  @Test
  void mistakesGetClearAnswers() {
    assertThat(mesh("apply", "-n", "nowhere").err()).contains("namespace nowhere not found");
    assertThat(mesh("status", "-n", "shop", "--name", "missing").err()).contains("no waypoint shop/missing");
    assertThat(mesh("apply", "--enrol-namespace").exit()).isEqualTo(2);
    assertThat(mesh("--help").exit()).isZero();
    assertThat(mesh("list", "--namespace=shop").exit()).as("--flag=value").isZero();
  }

  private static <T> T eventually(java.util.function.Supplier<T> get) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    T v;
    while ((v = get.get()) == null && System.nanoTime() < deadline) {
      Thread.sleep(50);
    }
    assertThat(v).as("eventually").isNotNull();
    return v;
  }
}
