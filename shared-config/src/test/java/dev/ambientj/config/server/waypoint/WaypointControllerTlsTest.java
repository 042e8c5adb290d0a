package dev.ambientj.config.server.waypoint;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.ca.KubernetesCaRoot;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import java.time.Duration;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The controller of a config server with a TLS port: every waypoint namespace gets the mesh root
 * (owned by its Gateways), and the waypoint pod reaches xDS and the CA over TLS with its projected
 * token, as ztunnel does.
 */
@EnableKubernetesMockClient(crud = true)
class WaypointControllerTlsTest {
  private static final String ROOT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  private static final WaypointSettings SETTINGS =
      new WaypointSettings("registry.example/ambientj:1", "ambientj-config.ambientj-system.svc:15012");

  static KubernetesClient client;
  private WaypointController controller;

  @BeforeEach
  void start() {
    controller = new WaypointController(client, SETTINGS, () -> ROOT).start();
  }

  @AfterEach
  void stop() {
    controller.close();
  }

  private static Gateway gateway(String ns, String name) {
    return new GatewayBuilder().withNewMetadata().withNamespace(ns).withName(name).endMetadata()
        .withNewSpec().withGatewayClassName("istio-waypoint").addNewListener().withName("mesh")
        .withPort(15008).withProtocol("HBONE").endListener().endSpec().build();
  }

  private static void eventually(String what, Supplier<Boolean> check) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (System.nanoTime() < deadline && !Boolean.TRUE.equals(check.get())) {
      Thread.sleep(50);
    }
    assertThat(check.get()).as(what).isTrue();
  }

  private static ConfigMap root(String ns) {
    return client.configMaps().inNamespace(ns).withName(KubernetesCaRoot.CONFIG_MAP).get();
  }

  @Test
  void publishesTheRootOwnedByTheGatewaysAndMountsItWithAProjectedToken() throws Exception {
    Gateway first = client.resource(gateway("pay", "payment-wp")).create();
    eventually("the Deployment exists",
        () -> client.apps().deployments().inNamespace("pay").withName("payment-wp").get() != null);
    ConfigMap cm = root("pay");
    assertThat(cm.getData()).containsEntry(KubernetesCaRoot.ROOT_CERT_KEY, ROOT);
    assertThat(cm.getMetadata().getOwnerReferences()).extracting(OwnerReference::getUid)
        .containsExactly(first.getMetadata().getUid());

    PodSpec pod = client.apps().deployments().inNamespace("pay").withName("payment-wp").get()
        .getSpec().getTemplate().getSpec();
    assertThat(pod.getContainers().get(0).getArgs()).containsExactly("waypoint",
        "--xds", SETTINGS.xdsAddress(), "--ca-address", SETTINGS.xdsAddress(),
        "--ca-token-file", WaypointResources.TOKEN_FILE, "--ca-root-cert", WaypointResources.ROOT_CERT_FILE,
        "--name", "payment-wp", "--namespace", "pay");
    var token = pod.getVolumes().stream().filter(v -> v.getProjected() != null).findFirst().orElseThrow();
    assertThat(token.getProjected().getSources().get(0).getServiceAccountToken().getAudience())
        .isEqualTo("istio-ca");
    var rootVolume = pod.getVolumes().stream().filter(v -> v.getConfigMap() != null).findFirst().orElseThrow();
    assertThat(rootVolume.getConfigMap().getName()).isEqualTo(KubernetesCaRoot.CONFIG_MAP);
    assertThat(pod.getContainers().get(0).getVolumeMounts())
        .extracting(m -> m.getName() + "=" + m.getMountPath())
        .containsExactlyInAnyOrder(token.getName() + "=" + WaypointResources.TOKEN_DIR,
            rootVolume.getName() + "=" + WaypointResources.ROOT_CERT_DIR);

    // A second waypoint in the namespace shares the ConfigMap and becomes one of its owners.
    Gateway second = client.resource(gateway("pay", "refund-wp")).create();
    eventually("both Gateways own the root", () -> root("pay").getMetadata().getOwnerReferences().size() == 2);
    assertThat(root("pay").getMetadata().getOwnerReferences()).extracting(OwnerReference::getUid)
        .containsExactlyInAnyOrder(first.getMetadata().getUid(), second.getMetadata().getUid());
    assertThat(List.of(root("pay").getData().get(KubernetesCaRoot.ROOT_CERT_KEY))).containsExactly(ROOT);
  }
}
