package dev.ambientj.it.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.testing.Privileged;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;

/**
 * {@code kubectl apply -k daemonset-manifests/} on a simulated two-node cluster ({@link Cluster}):
 * every pod the manifests make is run as a kubelet runs it, and the mesh is used as a user uses it.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterHarnessTest {
  /**
   * Generous: the machine is shared (2 cores, load 15–20 while other builds run); every process
   * of the cluster starts a JVM, and the API server answers slowly then. Nothing crash-loops any
   * more (the processes wait for the API and each other), so these are waits, not back-offs.
   */
  private static final Duration BRING_UP = Duration.ofSeconds(420);
  private static final Duration WAIT = Duration.ofSeconds(180);
  private static final String CLIENT_ID = "spiffe://cluster.local/ns/shop/sa/client";
  private static final String SERVER_ID = "spiffe://cluster.local/ns/shop/sa/server";
  private static final String SERVER_URL = "http://server.shop.svc.cluster.local/";

  /** An echo app (socat + a script from a ConfigMap) and the pod manifest of one replica. */
  private static final String ECHO = """
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: echo, namespace: shop}
      data:
        echo.sh: |
          #!/bin/sh
          cr=$(printf '\\r')
          while IFS= read -r l; do [ "$l" = "$cr" ] || [ -z "$l" ] && break; done
          printf 'HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nhello from %s\\n' "$POD_NAME"
      """;

  private static String echoPod(String name, String app, String node) {
    return """
        apiVersion: v1
        kind: Pod
        metadata: {name: %1$s, namespace: shop, labels: {app: %2$s}}
        spec:
          nodeName: %3$s
          serviceAccountName: server
          containers:
            - name: app
              image: harness/tools
              command: [socat, "TCP-LISTEN:8080,fork,reuseaddr", "EXEC:/srv/echo/echo.sh"]
              env: [{name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
              ports: [{name: http, containerPort: 8080}]
              readinessProbe: {tcpSocket: {port: http}, periodSeconds: 1}
              volumeMounts: [{name: echo, mountPath: /srv/echo}]
          volumes: [{name: echo, configMap: {name: echo, defaultMode: 493}}]
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: %2$s, namespace: shop}
        spec:
          selector: {app: %2$s}
          ports: [{name: http, port: 80, targetPort: 8080}]
        """.formatted(name, app, node);
  }

  private static String sleeper(String name, String node) {
    return """
        apiVersion: v1
        kind: Pod
        metadata: {name: %s, namespace: shop, labels: {app: %s}}
        spec:
          nodeName: %s
          serviceAccountName: client
          containers: [{name: app, image: harness/tools, command: [sleep, infinity]}]
        """.formatted(name, name, node);
  }
  private final Instant t0 = Instant.now();
  private Cluster cluster;
  private List<HasMetadata> manifests;

  /** Any failure, not only a wait's, prints every pod's events, probes, restarts and log tail. */
  @RegisterExtension
  final TestExecutionExceptionHandler printPods = (context, failure) -> {
    if (cluster != null && !(failure instanceof AssertionError a && a.getMessage() != null
        && a.getMessage().startsWith("not within "))) {
      System.out.println("cluster harness: " + context.getDisplayName() + " failed; the pods:\n"
          + cluster.describe());
    }
    throw failure;
  };

  @BeforeAll
  void start() throws Exception {
    Privileged.require("ip", "iptables", "iptables-restore", "nsenter", "unshare", "setpriv", "chroot",
        "kubectl", "openssl", "curl", "socat", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local");
    cluster = Cluster.start("node-a", "node-b");
    manifests = Manifests.render(Manifests.directory());
  }

  @AfterAll
  void stop() {
    if (cluster != null) {
      cluster.close();
    }
    System.out.println("cluster harness: wall time " + Duration.between(t0, Instant.now()).toMillis() + " ms");
  }

  @Test
  @Order(1)
  void theManifestsBringBothNodesToAllProbesReady() {
    Instant applied = Instant.now();
    cluster.apply(manifests);
    cluster.await("config server, CNI agent and ztunnel ready on both nodes", BRING_UP, () ->
        cluster.pods("ambientj-system", "app", "ambientj-config").stream().anyMatch(p -> p.readySince() != null)
            && cluster.pods("ambientj-system", "app", "ambientj-cni-node").stream().filter(p -> p.readySince() != null).count() == 2
            && cluster.pods("ambientj-system", "app", "ztunnel").stream().filter(p -> p.readySince() != null).count() == 2);
    for (String node : List.of("node-a", "node-b")) {
      assertThat(logHas(ztunnel(node), "ztunnel", "drain deadline 25.0 s (TERMINATION_GRACE_PERIOD_SECONDS=30)"))
          .as("ztunnel on %s drains for its grace period less 5 s", node).isTrue();
    }
    for (PodWorker p : cluster.allPods()) {
      System.out.printf("ready: %-45s on %s %6d ms after apply (%d ms after the pod was created), %d restarts%n",
          p.key(), p.node.name, Duration.between(applied, p.readySince()).toMillis(),
          Duration.between(p.created(), p.readySince()).toMillis(), p.restarts());
    }
    assertThat(cluster.allPods()).as("no container restarted: a slow API or a late config server is waited for")
        .allSatisfy(p -> assertThat(p.restarts()).as(p.key()).isZero());
    PodWorker configServer = cluster.pods("ambientj-system", "app", "ambientj-config").get(0);
    for (String node : List.of("node-a", "node-b")) {
      String ip = ztunnel(node).podIp();
      cluster.await("the config server names ztunnel on " + node + "'s xDS stream with its pod IP " + ip, WAIT,
          () -> logHas(configServer, "config-server", "xDS stream from ztunnel~" + ip + "~"));
    }
  }

  @Test
  @Order(2)
  void labellingTheNamespaceCapturesRunningPodsAndCrossNodeTrafficCarriesBothIdentities() throws Exception {
    cluster.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n");
    cluster.apply(ECHO + "---\n" + echoPod("server", "server", "node-b") + "---\n" + sleeper("client", "node-a"));
    cluster.await("shop/server and shop/client ready", WAIT, () -> ready("shop", "server") && ready("shop", "client"));
    PodWorker client = cluster.pod("shop", "client");
    PodWorker server = cluster.pod("shop", "server");
    // before enrolment: plain, through the Service VIP (once kube-proxy has the ready endpoint)
    cluster.await("curl from the client reaches the server through its Service", WAIT,
        () -> answers(client, SERVER_URL, "hello from server"));
    long clientPid = client.pid("app");
    long serverPid = server.pid("app");

    Namespace shop = cluster.client().namespaces().withName("shop").get();
    shop.getMetadata().setLabels(java.util.Map.of("istio.io/dataplane-mode", "ambient"));
    cluster.client().namespaces().resource(shop).update();
    cluster.await("the running client and server pods captured", WAIT, () -> captured(client) && captured(server));
    assertThat(client.pid("app")).as("client not restarted").isEqualTo(clientPid);
    assertThat(server.pid("app")).as("server not restarted").isEqualTo(serverPid);

    assertThat(curl(client, SERVER_URL)).contains("hello from server");
    PodWorker ztunnelA = ztunnel("node-a");
    PodWorker ztunnelB = ztunnel("node-b");
    cluster.await("ztunnel-a and ztunnel-b log the connection with both SPIFFE ids", WAIT, () ->
        logHas(ztunnelA, "ztunnel", CLIENT_ID, SERVER_ID, "\"direction\":\"outbound\"")
            && logHas(ztunnelB, "ztunnel", CLIENT_ID, SERVER_ID, "\"direction\":\"inbound\""));
  }

  @Test
  @Order(3)
  void aWaypointGatewayIsDeployedProgrammedAndItsRouteAppliesToTrafficFromTheOtherNode() throws Exception {
    cluster.apply("""
        apiVersion: gateway.networking.k8s.io/v1
        kind: Gateway
        metadata: {name: waypoint, namespace: shop}
        spec:
          gatewayClassName: istio-waypoint
          listeners: [{name: mesh, port: 15008, protocol: HBONE}]
        """);
    cluster.await("the waypoint's pod (from the controller's Deployment) ready", BRING_UP, () ->
        cluster.pods("shop", "gateway.networking.k8s.io/gateway-name", "waypoint").stream()
            .anyMatch(p -> p.readySince() != null));
    PodWorker waypoint = cluster.pods("shop", "gateway.networking.k8s.io/gateway-name", "waypoint").get(0);
    cluster.await("Gateway shop/waypoint Programmed", WAIT, () -> programmed("shop", "waypoint"));

    cluster.apply(echoPod("server-v2", "server-v2", "node-b") + """
        ---
        apiVersion: gateway.networking.k8s.io/v1
        kind: HTTPRoute
        metadata: {name: server-to-v2, namespace: shop}
        spec:
          parentRefs: [{group: "", kind: Service, name: server, port: 80}]
          rules: [{backendRefs: [{name: server-v2, port: 80}]}]
        """);
    // a new pod in an ambient namespace: its CNI ADD waits for ztunnel, before its IP is in the API
    cluster.await("shop/server-v2 ready", WAIT, () -> ready("shop", "server-v2"));
    assertThat(captured(cluster.pod("shop", "server-v2"))).as("server-v2 captured from its CNI ADD").isTrue();
    var service = cluster.client().services().inNamespace("shop").withName("server").get();
    service.getMetadata().setLabels(java.util.Map.of("istio.io/use-waypoint", "waypoint"));
    cluster.client().services().inNamespace("shop").resource(service).update();
    PodWorker client = cluster.pod("shop", "client");
    cluster.await("the client on node-a is routed to server-v2 by the waypoint on " + waypoint.node.name, WAIT,
        () -> answers(client, SERVER_URL, "hello from server-v2"));
    assertThat(waypoint.node.name).as("the waypoint runs on the other node").isNotEqualTo(client.node.name);
  }

  @Test
  @Order(4)
  void afterUninstallANewPodOnTheNodeStillGetsItsNetwork() throws Exception {
    cluster.delete(manifests);
    cluster.await("every ambientj-system pod terminated", WAIT, () ->
        cluster.allPods().stream().noneMatch(p -> p.namespace.equals("ambientj-system"))
            && cluster.terminatedPods().stream().allMatch(PodWorker::terminated));
    cluster.apply(sleeper("after-uninstall", "node-a"));
    cluster.await("shop/after-uninstall started with an IP", WAIT, () -> ready("shop", "after-uninstall"));
    String conflist = Files.readString(cluster.node("node-a").activeConflist());
    assertThat(conflist).as("the CNI agent took its plugin out of the chain").doesNotContain("ambientj-cni");
  }

  private boolean ready(String namespace, String name) {
    PodWorker p = cluster.pod(namespace, name);
    return p != null && p.readySince() != null;
  }

  private PodWorker ztunnel(String node) {
    return cluster.pods("ambientj-system", "app", "ztunnel").stream().filter(p -> p.node.name.equals(node))
        .findFirst().orElseThrow(() -> new AssertionError("no ztunnel pod on " + node));
  }

  private String curl(PodWorker pod, String url) throws IOException {
    Sh.Result r = cluster.exec(pod, "app", "curl", "-sS", "--max-time", "10", url);
    if (!r.ok()) {
      throw new IOException("curl " + url + " in " + pod.key() + " exited " + r.exit() + ": " + r.err());
    }
    return r.out();
  }

  private boolean answers(PodWorker pod, String url, String expected) {
    try {
      return curl(pod, url).contains(expected);
    } catch (IOException e) {
      return false;
    }
  }

  private static boolean captured(PodWorker pod) {
    try {
      return Sh.inNetns(pod.netns(), "iptables-save").contains("AMBIENTJ")
          && Sh.inNetns(pod.netns(), "ss", "-ltnH").contains(":15001");
    } catch (IOException e) {
      return false;
    }
  }

  private static boolean logHas(PodWorker pod, String container, String... all) {
    try {
      for (String line : Files.readAllLines(pod.logOf(container), StandardCharsets.ISO_8859_1)) {
        if (java.util.Arrays.stream(all).allMatch(line::contains)) {
          return true;
        }
      }
      return false;
    } catch (IOException e) {
      return false;
    }
  }

  private boolean programmed(String namespace, String name) {
    GenericKubernetesResource g = cluster.client()
        .genericKubernetesResources("gateway.networking.k8s.io/v1", "Gateway").inNamespace(namespace)
        .withName(name).get();
    if (g == null || !(g.getAdditionalProperties().get("status") instanceof java.util.Map<?, ?> status)) {
      return false;
    }
    return status.get("conditions") instanceof List<?> conditions && conditions.stream()
        .anyMatch(c -> c instanceof java.util.Map<?, ?> m && "Programmed".equals(m.get("type"))
            && "True".equals(m.get("status")));
  }
}
