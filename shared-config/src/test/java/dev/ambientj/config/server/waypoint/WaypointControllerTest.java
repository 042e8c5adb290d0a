package dev.ambientj.config.server.waypoint;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentStatusBuilder;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayBuilder;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayStatusAddress;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import java.time.Duration;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

@EnableKubernetesMockClient(crud = true)
class WaypointControllerTest {

  static KubernetesClient client;

  private static final WaypointSettings SETTINGS =
      new WaypointSettings("registry.example/ambientj:1", "ambientj-config.ambientj-system.svc:15010");
  private WaypointController controller;

  @BeforeEach
  void start() {
    controller = new WaypointController(client, SETTINGS).start();
  }

  @AfterEach
  void stop() {
    controller.close();
  }

  private static Gateway gateway(String ns, String name, String className) {
    return new GatewayBuilder()
        .withNewMetadata()
        .withNamespace(ns)
        .withName(name)
        .endMetadata()
        .withNewSpec()
        .withGatewayClassName(className)
        .addNewListener()
        .withName("mesh")
        .withPort(15008)
        .withProtocol("HBONE")
        .endListener()
        .endSpec()
        .build();
  }

  private static <T extends HasMetadata> T get(Class<T> type, String ns, String name) {
    return client.resources(type).inNamespace(ns).withName(name).get();
  }

  private static Condition condition(String ns, String name, String type) {
    Gateway g = get(Gateway.class, ns, name);
    if (g == null || g.getStatus() == null || g.getStatus().getConditions() == null) {
      return null;
    }
    return g.getStatus().getConditions().stream().filter(c -> c.getType().equals(type)).findFirst().orElse(null);
  }

  private static void eventually(String what, Supplier<Boolean> check) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (System.nanoTime() < deadline) {
      if (Boolean.TRUE.equals(check.get())) {
        return;
      }
      Thread.sleep(50);
    }
    assertThat(check.get()).as(what).isTrue();
  }

  @Test
  void createsTheWaypointAndReportsItsReadiness() throws Exception {
    Gateway created = client.resource(gateway("shop", "reviews-wp", "istio-waypoint")).create();
    eventually("the Deployment exists", () -> get(Deployment.class, "shop", "reviews-wp") != null);
    eventually("Accepted", () -> condition("shop", "reviews-wp", "Accepted") != null);

    Deployment d = get(Deployment.class, "shop", "reviews-wp");
    Service s = get(Service.class, "shop", "reviews-wp");
    ServiceAccount sa = get(ServiceAccount.class, "shop", "reviews-wp");
    for (HasMetadata o : List.of(d, s, sa)) {
      assertThat(o.getMetadata().getOwnerReferences())
          .singleElement()
          .satisfies(
              r -> {
                assertThat(r.getKind()).isEqualTo("Gateway");
                assertThat(r.getApiVersion()).isEqualTo("gateway.networking.k8s.io/v1");
                assertThat(r.getUid()).isEqualTo(created.getMetadata().getUid());
                assertThat(r.getController()).isTrue();
              });
      assertThat(o.getMetadata().getLabels())
          .containsEntry("istio.io/dataplane-mode", "none")
          .containsEntry("gateway.networking.k8s.io/gateway-name", "reviews-wp");
    }
    var pod = d.getSpec().getTemplate();
    assertThat(pod.getMetadata().getLabels()).containsEntry("istio.io/dataplane-mode", "none");
    assertThat(pod.getMetadata().getAnnotations()).as("Prometheus scrapes the waypoint")
        .containsEntry("prometheus.io/scrape", "true").containsEntry("prometheus.io/port", "15020")
        .containsEntry("prometheus.io/path", "/stats/prometheus");
    assertThat(pod.getSpec().getServiceAccountName()).isEqualTo("reviews-wp");
    assertThat(pod.getSpec().getContainers().get(0).getImage()).isEqualTo(SETTINGS.image());
    assertThat(pod.getSpec().getContainers().get(0).getArgs())
        .containsExactly("waypoint", "--xds", SETTINGS.xdsAddress(), "--name", "reviews-wp", "--namespace", "shop");
    assertThat(s.getSpec().getPorts()).singleElement().satisfies(p -> {
      assertThat(p.getPort()).isEqualTo(15008);
      assertThat(p.getName()).isEqualTo("mesh");
    });
    assertThat(s.getSpec().getSelector()).containsEntry("gateway.networking.k8s.io/gateway-name", "reviews-wp");

    assertThat(condition("shop", "reviews-wp", "Accepted").getStatus()).isEqualTo("True");
    Condition programmed = condition("shop", "reviews-wp", "Programmed");
    assertThat(programmed.getStatus()).isEqualTo("False");
    assertThat(programmed.getReason()).isEqualTo("Pending");

    // What the API server would do: allocate the cluster IP, then the pod becomes ready.
    s.getSpec().setClusterIP("10.96.7.7");
    client.resource(s).update();
    d.setStatus(new DeploymentStatusBuilder().withReplicas(1).withReadyReplicas(1).build());
    client.resource(d).updateStatus();

    eventually("Programmed", () -> {
      Condition c = condition("shop", "reviews-wp", "Programmed");
      return c != null && c.getStatus().equals("True");
    });
    assertThat(get(Gateway.class, "shop", "reviews-wp").getStatus().getAddresses())
        .containsExactly(new GatewayStatusAddress("IPAddress", "10.96.7.7"));

    // The pod goes away: Programmed drops back to Pending, the address stays.
    d = get(Deployment.class, "shop", "reviews-wp");
    d.setStatus(new DeploymentStatusBuilder().withReplicas(1).withReadyReplicas(0).build());
    client.resource(d).updateStatus();
    eventually("Programmed=False", () -> {
      Condition c = condition("shop", "reviews-wp", "Programmed");
      return c != null && c.getStatus().equals("False") && c.getReason().equals("Pending");
    });
  }

  @Test
  void updatesTheWaypointWhenTheDesiredStateChanges() throws Exception {
    client.resource(gateway("books", "wp", "istio-waypoint")).create();
    eventually("the Deployment exists", () -> get(Deployment.class, "books", "wp") != null);
    eventually("Accepted", () -> condition("books", "wp", "Accepted") != null);

    // A new config server release with a new waypoint image takes over.
    controller.close();
    WaypointSettings upgraded = new WaypointSettings("registry.example/ambientj:2", SETTINGS.xdsAddress());
    controller = new WaypointController(client, upgraded).start();
    eventually(
        "the Deployment runs the new image",
        () -> get(Deployment.class, "books", "wp").getSpec().getTemplate().getSpec().getContainers().get(0).getImage()
            .equals(upgraded.image()));

    // Moving the Gateway to another class takes the waypoint away.
    Gateway g = get(Gateway.class, "books", "wp");
    g.getSpec().setGatewayClassName("some-other-class");
    client.resource(g).update();
    eventually("the Deployment is gone", () -> get(Deployment.class, "books", "wp") == null);
    eventually("the Service is gone", () -> get(Service.class, "books", "wp") == null);
  }

  @Test
  void deletingTheGatewayDeletesTheWaypointAndOtherClassesAreIgnored() throws Exception {
    client.resource(gateway("pay", "other", "some-ingress")).create();
    client.resource(gateway("pay", "wp", "istio-waypoint")).create();
    eventually("the waypoint Deployment exists", () -> get(Deployment.class, "pay", "wp") != null);
    eventually("the waypoint ServiceAccount exists", () -> get(ServiceAccount.class, "pay", "wp") != null);
    assertThat(get(Deployment.class, "pay", "other")).isNull();
    assertThat(condition("pay", "other", "Accepted")).isNull();

    client.resources(Gateway.class).inNamespace("pay").withName("wp").delete();
    eventually("the Deployment is gone", () -> get(Deployment.class, "pay", "wp") == null);
    eventually("the Service is gone", () -> get(Service.class, "pay", "wp") == null);
    eventually("the ServiceAccount is gone", () -> get(ServiceAccount.class, "pay", "wp") == null);
  }
}
