package dev.ambientj.perf.config;

import dev.ambientj.config.MeshTranslator;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The generated cluster of the xDS scale bench, written to an API server through Fabric8 as
 * {@code kubectl apply} would: {@code nodes} Nodes, {@value #NAMESPACES} enrolled namespaces,
 * {@code services} Services (selector {@code app=app-S}, one port 80 → 8080), {@code pods} Pods
 * ({@code pods / services} per Service, spread round-robin over the nodes, so each Service's pods
 * sit on different nodes) and {@code policies} AuthorizationPolicies: one mesh-wide policy in
 * {@code istio-system} (it applies on every node) and the rest each selecting one app (its pods'
 * nodes only), allowing one caller identity on port 8080.
 */
final class ScaleCluster {
  static final int NAMESPACES = 20;
  static final String GLOBAL_POLICY = "bench-global";
  static final ResourceDefinitionContext AUTHORIZATION_POLICIES =
      new ResourceDefinitionContext.Builder().withGroup("security.istio.io").withVersion("v1")
          .withKind("AuthorizationPolicy").withPlural("authorizationpolicies").withNamespaced(true)
          .build();

  final int nodes;
  final int services;
  final int pods;
  final int policies;

  ScaleCluster(int nodes, int services, int pods, int policies) {
    this.nodes = nodes;
    this.services = services;
    this.pods = pods;
    this.policies = policies;
  }

  static String namespaceOf(int service) {
    return "ns-" + (service % NAMESPACES);
  }

  static String node(int n) {
    return "node-" + n;
  }

  /** Writes the whole cluster; returns how many objects were created. */
  int create(KubernetesClient client) {
    int n = 0;
    for (int i = 0; i < nodes; i++) {
      client.nodes().resource(new NodeBuilder().withNewMetadata().withName(node(i)).endMetadata()
          .withNewStatus().addNewAddress().withType("InternalIP").withAddress(ip(10, 250, i))
          .endAddress().endStatus().build()).create();
      n++;
    }
    client.namespaces().resource(new NamespaceBuilder().withNewMetadata()
        .withName("istio-system").endMetadata().build()).create();
    for (int i = 0; i < NAMESPACES; i++) {
      client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName("ns-" + i)
          .addToLabels(MeshTranslator.LABEL_DATAPLANE_MODE, "ambient").endMetadata().build())
          .create();
      n++;
    }
    for (int s = 0; s < services; s++) {
      client.services().inNamespace(namespaceOf(s)).resource(new ServiceBuilder()
          .withNewMetadata().withName("svc-" + s).withNamespace(namespaceOf(s)).endMetadata()
          .withNewSpec().withClusterIP(ip(10, 96, s)).addToSelector("app", "app-" + s)
          .addNewPort().withName("http").withPort(80).withNewTargetPort(8080).endPort()
          .endSpec().build()).create();
      n++;
    }
    int perService = Math.max(1, pods / services);
    for (int i = 0; i < pods; i++) {
      int s = Math.min(services - 1, i / perService);
      client.pods().inNamespace(namespaceOf(s)).resource(
          pod("pod-" + i, namespaceOf(s), "app-" + s, i % nodes, ip(10, 1, i))).create();
      n++;
    }
    var aps = client.genericKubernetesResources(AUTHORIZATION_POLICIES);
    aps.inNamespace("istio-system").resource(globalPolicy(0)).create();
    n++;
    for (int k = 0; k < policies - 1; k++) {
      int s = (2 * k) % services;
      aps.inNamespace(namespaceOf(s)).resource(selectorPolicy(k, 0)).create();
      n++;
    }
    return n;
  }

  static Pod pod(String name, String namespace, String app, int node, String ip) {
    return new PodBuilder().withNewMetadata().withName(name).withNamespace(namespace)
        .addToLabels("app", app).endMetadata()
        .withNewSpec().withNodeName(node(node)).withServiceAccountName(app)
        .addNewContainer().withName("app").withImage("app").addNewPort().withName("http")
        .withContainerPort(8080).endPort().endContainer().endSpec()
        .withNewStatus().withPhase("Running").withPodIP(ip).endStatus().build();
  }

  /** The mesh-wide policy, version {@code round}: DENY from namespace {@code blocked-<round>}. */
  static GenericKubernetesResource globalPolicy(int round) {
    return policy(GLOBAL_POLICY, "istio-system", Map.of(
        "action", "DENY",
        "rules", List.of(Map.of("from", List.of(Map.of("source",
            Map.of("namespaces", List.of("blocked-" + round))))))));
  }

  /** Selector policy {@code k}, version {@code round}: app-2k allows one caller on 8080. */
  GenericKubernetesResource selectorPolicy(int k, int round) {
    int s = (2 * k) % services;
    int caller = (s + 1 + round) % services;
    return policy("ap-" + k, namespaceOf(s), Map.of(
        "selector", Map.of("matchLabels", Map.of("app", "app-" + s)),
        "action", "ALLOW",
        "rules", List.of(Map.of(
            "from", List.of(Map.of("source", Map.of("principals", List.of(
                "cluster.local/ns/" + namespaceOf(caller) + "/sa/app-" + caller)))),
            "to", List.of(Map.of("operation", Map.of("ports", List.of("8080"))))))));
  }

  /** The nodes whose ztunnels selector policy {@code k} applies to. */
  List<String> nodesOfPolicy(int k) {
    int s = (2 * k) % services;
    int perService = Math.max(1, pods / services);
    List<String> out = new ArrayList<>();
    for (int i = s * perService; i < Math.min(pods, (s + 1) * perService); i++) {
      if (!out.contains(node(i % nodes))) {
        out.add(node(i % nodes));
      }
    }
    return out;
  }

  private static GenericKubernetesResource policy(String name, String namespace,
      Map<String, Object> spec) {
    GenericKubernetesResource g = new GenericKubernetesResource();
    g.setApiVersion("security.istio.io/v1");
    g.setKind("AuthorizationPolicy");
    g.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder().withName(name)
        .withNamespace(namespace).build());
    g.setAdditionalProperty("spec", spec);
    return g;
  }

  static String ip(int a, int b, int n) {
    return a + "." + (b + n / 62500) + "." + (n / 250 % 250) + "." + (n % 250 + 1);
  }
}
