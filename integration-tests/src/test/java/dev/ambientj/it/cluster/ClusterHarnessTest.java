package dev.ambientj.it.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.it.ConnectionProbe;
import dev.ambientj.it.CountingEchoServer;
import dev.ambientj.testing.Privileged;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
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
  void stop() throws IOException {
    if (echo != null) {
      echo.close();
    }
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
      assertThat(logHas(ztunnel(node), "ztunnel", "mesh ztunnel: node " + node + " running;", "drain deadline 25.0 s;"))
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
  void aZtunnelRolloutUnderLoadLosesNoConnection() throws Exception {
    startEcho();
    Map<String, PodWorker> old = new TreeMap<>();
    for (String node : List.of("node-a", "node-b")) {
      old.put(node, ztunnel(node));
    }
    var daemonSet = cluster.client().apps().daemonSets().inNamespace("ambientj-system").withName("ztunnel").get();
    var rolling = daemonSet.getSpec().getUpdateStrategy().getRollingUpdate();
    assertThat(rolling.getMaxSurge().getIntVal()).as("ztunnel.yaml: maxSurge").isEqualTo(1);
    assertThat(rolling.getMaxUnavailable().getIntVal()).as("ztunnel.yaml: maxUnavailable").isZero();
    // ztunnel drains for the grace period less 5 s (test 1 checks it logs so)
    Duration drain = Duration.ofSeconds(daemonSet.getSpec().getTemplate().getSpec().getTerminationGracePeriodSeconds() - 5);

    LoadOutcome load = underLoad("ztunnel-rollout", () -> {
      cluster.rolloutRestart("daemonset", "ambientj-system", "ztunnel");
      cluster.await("the ztunnel DaemonSet rolled on both nodes: new pods ready, the old ones terminated", BRING_UP,
          () -> old.values().stream().allMatch(PodWorker::terminated)
              && old.keySet().stream().allMatch(n -> ztunnelReplaced(n, old.get(n))));
    });

    Instant firstSigterm = old.values().stream().map(PodWorker::sigtermAt).min(Instant::compareTo).orElseThrow();
    long drainDeadlineNanos = load.nanosAt(firstSigterm.plus(drain));
    for (var e : old.entrySet()) {
      PodWorker previous = e.getValue();
      PodWorker successor = ztunnel(e.getKey());
      System.out.printf("ztunnel rollout on %s: %s ready %d ms after it was created; %s got SIGTERM %d ms after"
              + " that; ztunnel %s%n", e.getKey(), successor.name, Duration.between(successor.created(),
              successor.readySince()).toMillis(), previous.name,
          Duration.between(successor.readySince(), previous.sigtermAt()).toMillis(), previous.termination("ztunnel"));
    }
    long drainLines = old.values().stream().mapToLong(p -> countLines(p, "ztunnel", "\"response_flags\":\"DRAIN\"",
        ":" + ECHO_PORT)).sum();
    List<String> problems = load.report(drainDeadlineNanos, "access-log lines flagged DRAIN: " + drainLines);
    for (var e : old.entrySet()) {
      PodWorker previous = e.getValue();
      PodWorker successor = ztunnel(e.getKey());
      assertThat(successor.readySince()).as("maxSurge 1: the new ztunnel on %s ready before the old one's SIGTERM",
          e.getKey()).isBefore(previous.sigtermAt());
      assertThat(previous.termination("ztunnel")).as("the old ztunnel on %s exits after SIGTERM, within its grace",
          e.getKey()).contains("after SIGTERM");
    }
    load.assertNothingLost(problems);
    for (PodWorker previous : old.values()) {
      assertThat(countLines(previous, "ztunnel", "listeners handed over to a successor, 0 closed without one"))
          .as("%s handed every pod listener over to its successor (SO_REUSEPORT)", previous.key()).isEqualTo(1);
    }
    assertThat(drainLines).as("access-log lines flagged DRAIN (one per connection a drain ended)")
        .isGreaterThanOrEqualTo(load.endedBy("FIN"));
  }

  @Test
  @Order(5)
  void aCniAgentRestartUnderLoadLosesNoConnectionAndLeavesThePodsRulesAlone() throws Exception {
    startEcho();
    List<PodWorker> oldAgents = cluster.pods("ambientj-system", "app", "ambientj-cni-node");
    List<PodWorker> ztunnels = cluster.pods("ambientj-system", "app", "ztunnel");
    List<PodWorker> captured = List.of(cluster.pod("shop", "client"), cluster.pod("shop", "echo"));
    Map<String, String> rulesBefore = new TreeMap<>();
    for (PodWorker p : captured) {
      rulesBefore.put(p.key(), redirectionRules(p));
    }
    List<String> flaps = new java.util.concurrent.CopyOnWriteArrayList<>();
    java.util.concurrent.atomic.AtomicInteger samples = new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.atomic.AtomicBoolean sampling = new java.util.concurrent.atomic.AtomicBoolean(true);
    Thread sampler = Thread.ofVirtual().start(() -> {
      while (sampling.get()) {
        for (PodWorker p : captured) {
          String now = redirectionRules(p);
          samples.incrementAndGet();
          if (!now.equals(rulesBefore.get(p.key()))) {
            flaps.add(p.key() + " at " + Instant.now() + ":\n" + now);
          }
        }
        sleep(Duration.ofMillis(300));
      }
    });
    LoadOutcome load;
    try {
      load = underLoad("cni-agent-restart", () -> {
        cluster.rolloutRestart("daemonset", "ambientj-system", "ambientj-cni-node");
        cluster.await("the CNI agent DaemonSet rolled on both nodes: old pods terminated, new ones ready", BRING_UP,
            () -> oldAgents.stream().allMatch(PodWorker::terminated)
                && cluster.pods("ambientj-system", "app", "ambientj-cni-node").stream()
                    .filter(p -> !oldAgents.contains(p) && p.readySince() != null).count() == 2);
      });
    } finally {
      sampling.set(false);
      sampler.join();
    }
    for (PodWorker p : cluster.pods("ambientj-system", "app", "ambientj-cni-node")) {
      System.out.printf("CNI agent restart: %s on %s ready %d ms after it was created%n", p.name, p.node.name,
          Duration.between(p.created(), p.readySince()).toMillis());
    }
    oldAgents.forEach(p -> System.out.printf("CNI agent restart: old %s on %s: %s%n", p.name, p.node.name,
        p.termination("cni-agent")));
    List<String> problems = load.report(null, samples.get() + " iptables-save samples of the pods' rules, "
        + flaps.size() + " differing");
    load.assertNothingLost(problems);
    assertThat(flaps).as("the pods' redirection rules during the restart (iptables-save in each pod's netns)").isEmpty();
    for (PodWorker p : captured) {
      assertThat(redirectionRules(p)).as("%s's rules after the restart", p.key()).isEqualTo(rulesBefore.get(p.key()));
    }
    assertThat(cluster.pods("ambientj-system", "app", "ztunnel")).as("ztunnel untouched").containsExactlyInAnyOrderElementsOf(ztunnels)
        .allSatisfy(z -> assertThat(z.restarts()).isZero());
  }

  @Test
  @Order(6)
  void aConfigServerRestartUnderLoadLosesNoConnectionAndTheProxiesReconnect() throws Exception {
    startEcho();
    List<PodWorker> oldServers = cluster.pods("ambientj-system", "app", "ambientj-config");
    List<PodWorker> ztunnels = cluster.pods("ambientj-system", "app", "ztunnel");
    String back = "xDS: the config server ";
    Map<PodWorker, Long> backBefore = new java.util.HashMap<>();
    ztunnels.forEach(z -> backBefore.put(z, countLines(z, "ztunnel", back, " is back after ")));
    Instant[] newServerReady = new Instant[1];
    LoadOutcome load = underLoad("config-server-restart", () -> {
      cluster.rolloutRestart("deployment", "ambientj-system", "ambientj-config");
      cluster.await("the config server Deployment rolled (Recreate): old pod terminated, new one ready", BRING_UP,
          () -> oldServers.stream().allMatch(PodWorker::terminated)
              && cluster.pods("ambientj-system", "app", "ambientj-config").stream()
                  .anyMatch(p -> !oldServers.contains(p) && p.readySince() != null));
      newServerReady[0] = Instant.now();
      cluster.await("both ztunnels back on the new config server's xDS", WAIT, () -> ztunnels.stream()
          .allMatch(z -> countLines(z, "ztunnel", back, " is back after ") > backBefore.get(z)));
      System.out.printf("config server restart: ztunnels resynced %d ms after the new server was ready%n",
          Duration.between(newServerReady[0], Instant.now()).toMillis());
    });
    PodWorker server = cluster.pods("ambientj-system", "app", "ambientj-config").get(0);
    System.out.printf("config server restart: %s ready %d ms after it was created; old: %s%n", server.name,
        Duration.between(server.created(), server.readySince()).toMillis(),
        oldServers.get(0).termination("config-server"));
    List<String> problems = load.report(null, "");
    load.assertNothingLost(problems);
    assertThat(answers(cluster.pod("shop", "client"), SERVER_URL, "hello from server-v2"))
        .as("the waypoint's route still applies after the restart (no config lost)").isTrue();
  }

  @Test
  @Order(7)
  void noZtunnelLoggedAnExceptionItDidNotHandle() {
    List<String> unhandled = new ArrayList<>();
    List<PodWorker> all = new ArrayList<>(cluster.allPods());
    all.addAll(cluster.terminatedPods());
    for (PodWorker p : all) {
      if (p.namespace.equals("ambientj-system") && p.name.startsWith("ztunnel-")) {
        for (String pattern : List.of("Failed to initialize a channel", "reached at the tail of the pipeline")) {
          long n = countLines(p, "ztunnel", pattern);
          if (n > 0) {
            unhandled.add(p.key() + ": " + n + " x '" + pattern + "'");
          }
        }
      }
    }
    assertThat(unhandled).as("Netty warnings of exceptions no handler of ztunnel's handled (see the pods' logs)")
        .isEmpty();
  }

  @Test
  @Order(8)
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

  // --- load across a restart -----------------------------------------------------------------

  /** An echo app on node-b (a pod of service account server; the test serves in its netns), its Service. */
  private static final String ECHO_APP = """
      apiVersion: v1
      kind: Pod
      metadata: {name: echo, namespace: shop, labels: {app: echo}}
      spec:
        nodeName: node-b
        serviceAccountName: server
        containers:
          - name: app
            image: harness/tools
            command: [sleep, infinity]
            ports: [{name: echo, containerPort: 9000}]
            readinessProbe: {tcpSocket: {port: echo}, periodSeconds: 1}
      ---
      apiVersion: v1
      kind: Service
      metadata: {name: echo, namespace: shop}
      spec:
        selector: {app: echo}
        ports: [{name: tcp-echo, port: 9000, targetPort: 9000}]
      """;
  private static final int ECHO_PORT = 9000;
  private static final int LONG_LIVED = 50;
  /** 100 new connections a second. */
  private static final Duration NEW_CONNECTION_EVERY = Duration.ofMillis(10);
  private CountingEchoServer echo;
  private InetSocketAddress echoService;

  /**
   * Once: shop/echo on node-b, enrolled from its CNI ADD, whose app is a {@link CountingEchoServer}
   * listening in the pod's network namespace; the client on node-a reaches it through both ztunnels.
   */
  private void startEcho() throws Exception {
    if (echoService != null) {
      return;
    }
    cluster.apply(ECHO_APP);
    cluster.await("shop/echo has its network", WAIT, () -> {
      PodWorker p = cluster.pod("shop", "echo");
      return p != null && p.podIp() != null;
    });
    echo = CountingEchoServer.serve(cluster.listenIn(cluster.pod("shop", "echo").netns(), ECHO_PORT));
    cluster.await("shop/echo ready", WAIT, () -> ready("shop", "echo"));
    cluster.await("service shop/echo has a cluster IP", WAIT, () -> echoVip() != null);
    InetSocketAddress service = new InetSocketAddress(echoVip(), ECHO_PORT);
    PodWorker client = cluster.pod("shop", "client");
    cluster.await("the client's echo through the mesh, logged by ztunnel on node-a with both SPIFFE ids", WAIT, () -> {
      try (Socket s = cluster.dialIn(client.netns(), service, 5000)) {
        s.setSoTimeout(5000);
        s.getOutputStream().write("warm-up\n".getBytes(StandardCharsets.US_ASCII));
        s.getInputStream().readNBytes(8);
      } catch (IOException e) {
        return false;
      }
      return logHas(ztunnel("node-a"), "ztunnel", CLIENT_ID, SERVER_ID, ":" + ECHO_PORT);
    });
    echoService = service;
  }

  private String echoVip() {
    var s = cluster.client().services().inNamespace("shop").withName("echo").get();
    return s == null || s.getSpec().getClusterIP() == null || s.getSpec().getClusterIP().isEmpty() ? null
        : s.getSpec().getClusterIP();
  }

  @FunctionalInterface
  private interface Disruption {
    void run() throws Exception;
  }

  /**
   * Runs {@code disruption} while the client on node-a opens a new connection to shop/echo every
   * {@link #NEW_CONNECTION_EVERY} (each sends a line and reads its echo) and keeps {@link #LONG_LIVED}
   * long-lived connections ticking; 2 s of load before and after. Then the long-lived connections
   * still open are finished (FIN, echo drained) and the app's view of each awaited.
   */
  private LoadOutcome underLoad(String what, Disruption disruption) throws Exception {
    PodWorker client = cluster.pod("shop", "client");
    String netns = client.netns();
    try (ConnectionProbe probe = new ConnectionProbe(
        timeout -> cluster.dialIn(netns, echoService, (int) timeout.toMillis()), what)) {
      List<ConnectionProbe.LongLived> longLived = probe.openLongLived(LONG_LIVED);
      long start = System.nanoTime();
      Instant startInstant = Instant.now();
      probe.startNewConnections(NEW_CONNECTION_EVERY);
      sleep(Duration.ofSeconds(2));
      disruption.run();
      sleep(Duration.ofSeconds(2));
      double seconds = (System.nanoTime() - start) / 1e9;
      List<ConnectionProbe.Attempt> attempts = probe.stopNewConnections();
      longLived.forEach(ConnectionProbe.LongLived::finish);
      cluster.await("every long-lived connection ended, the app saw each end", WAIT, () -> longLived.stream()
          .allMatch(c -> c.ending() != null && echo.tally(c.name) != null && echo.tally(c.name).ending() != null));
      return new LoadOutcome(what, attempts, longLived, seconds, start, startInstant, echo);
    }
  }

  /** What one run of {@link #underLoad} saw; {@code start*} is when the load began. */
  private record LoadOutcome(String what, List<ConnectionProbe.Attempt> attempts,
      List<ConnectionProbe.LongLived> longLived, double seconds, long startNanos, Instant startInstant,
      CountingEchoServer echo) {
    long failed() {
      return attempts.stream().filter(a -> a.failure() != null).count();
    }

    double ratePerSecond() {
      return attempts.size() / seconds;
    }

    /** No new connection failed, at least 95 a second were made, {@code problems} is empty. */
    void assertNothingLost(List<String> problems) {
      assertThat(failed()).as("new connections refused, reset or timed out across the " + what).isZero();
      assertThat(ratePerSecond()).as("new connections a second").isGreaterThanOrEqualTo(95);
      assertThat(problems).as("long-lived connections across the " + what).isEmpty();
    }

    long endedBy(String ending) {
      return longLived.stream().filter(c -> ending.equals(c.ending())).count();
    }

    long nanosAt(Instant t) {
      return startNanos + Duration.between(startInstant, t).toNanos();
    }

    /**
     * Prints the counts; returns what is wrong with the long-lived connections: each must have
     * worked to the end, or (when {@code drainDeadlineNanos} is given) ended with a FIN at or after
     * it; never a reset; what the client sent is what the app echoed and the client read.
     */
    List<String> report(Long drainDeadlineNanos, String more) {
      List<String> problems = new ArrayList<>();
      Map<String, Long> endings = new TreeMap<>();
      long bytesAgree = 0;
      double earliestEnd = Double.MAX_VALUE;
      for (ConnectionProbe.LongLived c : longLived) {
        endings.merge(c.ending(), 1L, Long::sum);
        CountingEchoServer.Tally t = echo.tally(c.name);
        if ("FIN".equals(c.ending()) && drainDeadlineNanos != null) {
          double early = (drainDeadlineNanos - c.endNanos()) / 1e9;
          earliestEnd = Math.min(earliestEnd, -early);
          if (early > 0.1) {
            problems.add(c.name + " ended with a FIN " + early + " s before the drain deadline");
          }
        } else if (!ConnectionProbe.LongLived.FINISHED.equals(c.ending())) {
          problems.add(c.name + " ended " + c.ending());
        }
        // A connection the drain ended learns of the FIN by reading after its next write: that
        // last line reaches the app (relayed until the client closes) but its echo cannot come back.
        long unanswered = "FIN".equals(c.ending()) ? "tick-NNNNN\n".length() : 0;
        if (t == null || !"FIN".equals(t.ending())) {
          problems.add(c.name + ": the app saw " + (t == null ? "nothing" : t.ending()));
        } else if (t.bytes() != c.sent() || c.received() > t.bytes() || t.bytes() - c.received() > unanswered) {
          problems.add(c.name + ": client sent " + c.sent() + " and read " + c.received() + ", the app echoed " + t.bytes());
        } else {
          bytesAgree++;
        }
      }
      System.out.printf("%s under load: %d new connections in %.1f s (%.0f/s), %d failed %s, longest outage %d ms;"
              + " %d long-lived: %s%s, byte counts agree on %d; %s%n", what, attempts.size(), seconds, ratePerSecond(),
          failed(), ConnectionProbe.failureReasons(attempts), ConnectionProbe.longestOutageMillis(attempts),
          longLived.size(), endings, earliestEnd == Double.MAX_VALUE ? ""
              : String.format(" (the first FIN %.2f s after the drain deadline)", earliestEnd), bytesAgree, more);
      problems.stream().limit(10).forEach(p -> System.out.println("  " + p));
      return problems;
    }
  }

  /** Whether {@code node} has a ztunnel pod other than {@code old}, ready. */
  private boolean ztunnelReplaced(String node, PodWorker old) {
    return cluster.pods("ambientj-system", "app", "ztunnel").stream()
        .anyMatch(p -> p != old && p.node.name.equals(node) && p.readySince() != null);
  }

  /** {@code iptables-save} of the pod's network namespace without comments and counters. */
  private static String redirectionRules(PodWorker p) {
    try {
      return Sh.inNetns(p.netns(), "iptables-save").lines().filter(l -> !l.startsWith("#"))
          .map(l -> l.replaceAll("\\[\\d+:\\d+\\]", "[]")).collect(java.util.stream.Collectors.joining("\n"));
    } catch (IOException e) {
      return "iptables-save failed: " + e.getMessage();
    }
  }

  private static long countLines(PodWorker pod, String container, String... all) {
    try (var lines = Files.lines(pod.logOf(container), StandardCharsets.ISO_8859_1)) {
      return lines.filter(l -> java.util.Arrays.stream(all).allMatch(l::contains)).count();
    } catch (IOException | java.io.UncheckedIOException e) {
      return 0;
    }
  }

  private static void sleep(Duration d) {
    try {
      Thread.sleep(d);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted");
    }
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
