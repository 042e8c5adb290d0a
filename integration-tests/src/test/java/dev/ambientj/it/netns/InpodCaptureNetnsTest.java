package dev.ambientj.it.netns;

import static dev.ambientj.it.netns.TwoNodeMesh.CLIENT_ID;
import static dev.ambientj.it.netns.TwoNodeMesh.SERVER_ID;
import static dev.ambientj.it.netns.TwoNodeMesh.TD;
import static dev.ambientj.it.netns.TwoNodeMesh.WAIT;
import static dev.ambientj.it.netns.TwoNodeMesh.captured;
import static dev.ambientj.it.netns.TwoNodeMesh.deleteTree;
import static dev.ambientj.it.netns.TwoNodeMesh.eventually;
import static dev.ambientj.it.netns.TwoNodeMesh.released;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.cni.agent.NodeAgent;
import dev.ambientj.cni.agent.ZtunnelServer;
import dev.ambientj.cni.redirect.CommandRunner;
import dev.ambientj.cni.redirect.InpodRedirect;
import dev.ambientj.config.FileConfigSource;
import dev.ambientj.config.SnapshotListener;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.hbone.identity.IdentityProvider;
import dev.ambientj.hbone.identity.LocalCertificateAuthority;
import dev.ambientj.hbone.transport.Transport;
import dev.ambientj.testing.Privileged;
import dev.ambientj.ztunnel.Ztunnel;
import dev.ambientj.ztunnel.telemetry.InMemoryAccessLogSink;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * In-pod capture end to end, as root, with network namespaces for hosts:
 *
 * <pre>
 *   node-a (netns) ── veth 10.244.255.0/30 ── node-b (netns)
 *     cni0 10.244.1.1                            cni0 10.244.2.1
 *       client pod 10.244.1.10 (curl)              server pod 10.244.2.10 (socat :8080)
 *   ztunnel-a, cni-agent-a                      ztunnel-b, cni-agent-b     (this JVM, root netns)
 * </pre>
 *
 * Pods are wired by the CNI reference plugins (bridge + host-local) with our plugin chained after
 * them; our plugin asks the node agent, which installs the pod's iptables rules and hands its
 * netns to the node's ztunnel over ZDS; ztunnel listens inside the pod. An unmodified curl in the
 * client pod then reaches the server by pod IP and by service VIP through HBONE, and iperf3
 * moves its bytes through both ztunnels. Un-labelling the client's namespace releases the running
 * pod and labelling it again captures it again — no CNI call, no pod restart.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class InpodCaptureNetnsTest {

  private final Host host = new Host();
  private final String id = Long.toHexString(System.nanoTime() & 0xffff);
  private Path work;
  private Path configFile;
  private SnapshotPublisher config;
  private FileConfigSource source;
  private IdentityProvider identities;
  private Cni cni;
  private String nodeA;
  private String nodeB;
  private String clientNs;
  private String serverNs;
  private String benchNs;
  private Node a;
  private Node b;

  /** One node's agent and ztunnel. */
  private final class Node {
    final String name;
    final Path agentSocket;
    final Path zdsSocket;
    final Path podsFile;
    final InMemoryAccessLogSink accessLog = new InMemoryAccessLogSink();
    NodeAgent agent;
    AutoCloseable following;
    Ztunnel ztunnel;

    Node(String name) throws Exception {
      this.name = name;
      this.agentSocket = work.resolve("agent-" + name + ".sock");
      this.zdsSocket = work.resolve("zds-" + name + ".sock");
      this.podsFile = work.resolve("state-" + name + "/cni-agent-pods");
      startAgent();
      startZtunnel();
    }

    /** The node agent with its ZDS server, following the config; its pod list on disk. */
    void startAgent() throws Exception {
      NodeAgent mine = NodeAgent.start(agentSocket, config::snapshot,
          new InpodRedirect(CommandRunner.nsenter()), podsFile);
      agent = mine;
      host.onClose(mine::close);
      mine.zds(ZtunnelServer.start(zdsSocket));
      AutoCloseable sub = config.subscribe(new SnapshotListener() {
        @Override
        public void onSnapshot(MeshSnapshot snapshot) {
          mine.reconcile(snapshot);
        }
      });
      following = sub;
      host.onClose(sub::close);
    }

    void stopAgent() throws Exception {
      following.close();
      agent.close();
    }

    void startZtunnel() throws Exception {
      ztunnel = Ztunnel.builder().node(name).config(config).identityProvider(identities)
          .transport(Transport.select(Transport.Kind.EPOLL))
          .adminAddress(InetAddress.getLoopbackAddress()).nodePorts(0, 0, 0)
          .drainDeadline(Duration.ofMillis(200))
          .accessLog(accessLog).inPod(zdsSocket).build().start();
      Ztunnel mine = ztunnel;
      host.onClose(mine::close);
    }
  }

  @BeforeAll
  void setUp() throws Exception {
    Privileged.require("ip", "iptables-restore", "nsenter", "curl", "socat", "iperf3", "ss",
        "/usr/lib/cni/bridge", "/usr/lib/cni/host-local");
    work = Files.createTempDirectory("ambientj-inpod-");
    host.onClose(() -> deleteTree(work));
    configFile = work.resolve("mesh.yaml");
    Files.writeString(configFile, mesh(true));
    config = new SnapshotPublisher();
    source = FileConfigSource.start(List.of(configFile), config);
    host.onClose(source::close);
    identities = LocalCertificateAuthority.create(TD).asIdentityProvider(Duration.ofHours(1));
    cni = new Cni("aj-" + id, work);

    // two nodes joined by a veth pair, each routing the other's pod subnet
    nodeA = host.netns("ajna-" + id);
    nodeB = host.netns("ajnb-" + id);
    Host.run("ip", "link", "add", "aja" + id, "netns", nodeA, "type", "veth", "peer", "name",
        "ajb" + id, "netns", nodeB);
    host.exec(nodeA, "ip", "addr", "add", "10.244.255.1/30", "dev", "aja" + id);
    host.exec(nodeB, "ip", "addr", "add", "10.244.255.2/30", "dev", "ajb" + id);
    host.exec(nodeA, "ip", "link", "set", "aja" + id, "up");
    host.exec(nodeB, "ip", "link", "set", "ajb" + id, "up");
    host.exec(nodeA, "ip", "route", "add", "10.244.2.0/24", "via", "10.244.255.2");
    host.exec(nodeB, "ip", "route", "add", "10.244.1.0/24", "via", "10.244.255.1");
    host.exec(nodeA, "sysctl", "-qw", "net.ipv4.ip_forward=1");
    host.exec(nodeB, "sysctl", "-qw", "net.ipv4.ip_forward=1");

    a = new Node("node-a");
    b = new Node("node-b");

    // the server app exists before its pod is enrolled (its netns comes first, as with a sandbox)
    serverNs = host.netns("ajps-" + id);
    clientNs = host.netns("ajpc-" + id);
    benchNs = host.netns("ajpx-" + id);
    Path app = work.resolve("app.sh"); // reads the request head, answers with the peer it saw
    Files.writeString(app, """
        #!/bin/sh
        cr=$(printf '\\r')
        while IFS= read -r l; do [ "$l" = "$cr" ] || [ -z "$l" ] && break; done
        printf 'HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\npeer=%s\\n' "$SOCAT_PEERADDR"
        """);
    app.toFile().setExecutable(true);
    host.start("ip", "netns", "exec", serverNs, "socat", "TCP-LISTEN:8080,fork,reuseaddr",
        "EXEC:" + app);
    host.start("ip", "netns", "exec", serverNs, "iperf3", "-s", "-p", "5201");
    addPod(b, nodeB, serverNs, "demo", "server", "10.244.2.0/24", "10.244.2.1", "10.244.2.10");
    addPod(a, nodeA, clientNs, "front", "client", "10.244.1.0/24", "10.244.1.1", "10.244.1.10");
    assertThat(a.ztunnel.awaitReady(WAIT)).as("ztunnel-a ready").isTrue();
    assertThat(b.ztunnel.awaitReady(WAIT)).as("ztunnel-b ready").isTrue();
  }

  /** bridge ADD in the node, then ours with its result; DELs (reverse order) registered for close. */
  private void addPod(Node node, String nodeNs, String podNs, String namespace, String pod,
      String subnet, String gateway, String ip) throws Exception {
    String netns = "/var/run/netns/" + podNs;
    String bridgeConfig = cni.bridgeConfig(subnet, gateway, ip);
    Host.Result br = cni.bridge("ADD", nodeNs, netns, podNs, bridgeConfig);
    assertThat(br.exit()).as("bridge ADD: " + br.out() + br.err()).isZero();
    host.onClose(() -> cni.bridge("DEL", nodeNs, netns, podNs, bridgeConfig));
    Host.Result ours = cni.ambientj("ADD", netns, podNs, node.agentSocket, br.out(), namespace,
        pod, "uid-" + pod);
    host.onClose(() -> cni.ambientj("DEL", netns, podNs, node.agentSocket, null, namespace, pod,
        "uid-" + pod));
    assertThat(ours.exit()).as("ambientj ADD: " + ours.out() + ours.err()).isZero();
    assertThat(ours.out()).as("our plugin passes the bridge's result on").contains(ip);
  }

  @AfterAll
  void tearDown() {
    host.close();
  }

  @Test
  @Order(1)
  void curlInTheClientPodReachesTheServerByPodIpThroughTheMesh() throws Exception {
    String body = curl("http://10.244.2.10:8080/");
    // the app sees ztunnel-b's connection from inside its own pod, not the client's address
    assertThat(body).contains("peer=10.244.2.10");
    eventually(WAIT, () -> a.accessLog.lines().stream().anyMatch(l -> l.contains(CLIENT_ID) && l.contains(SERVER_ID)));
    eventually(WAIT, () -> b.accessLog.lines().stream().anyMatch(l -> l.contains(CLIENT_ID) && l.contains(SERVER_ID)));
    // ztunnel's listeners live in the pods, marked 1337, and not in the node
    assertThat(host.exec(clientNs, "ss", "-ltnHe")).contains("*:15001", "fwmark:0x539");
    assertThat(host.exec(serverNs, "ss", "-ltnH")).contains("*:15008", "*:15006");
  }

  @Test
  @Order(2)
  void curlReachesTheServiceVip() throws Exception {
    assertThat(curl("http://10.96.0.10/")).contains("peer=10.244.2.10");
  }

  @Test
  @Order(3)
  void aRestartedZtunnelGetsThePodsBackFromTheAgent() throws Exception {
    a.ztunnel.close();
    assertThat(host.exec(clientNs, "ss", "-ltnH")).doesNotContain(":15001");
    a.accessLog.clear();
    a.startZtunnel();
    assertThat(a.ztunnel.awaitReady(WAIT)).as("resynced from the agent's snapshot").isTrue();
    assertThat(host.exec(clientNs, "ss", "-ltnH")).contains("*:15001");
    assertThat(curl("http://10.244.2.10:8080/")).contains("peer=10.244.2.10");
    eventually(WAIT, () -> a.accessLog.lines().stream().anyMatch(l -> l.contains(CLIENT_ID)));
  }

  @Test
  @Order(4)
  void addLatencyWithAgentAndZtunnelInTheLoop() throws Exception {
    String netns = "/var/run/netns/" + benchNs;
    List<Long> micros = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      long t0 = System.nanoTime();
      Host.Result r = cni.ambientj("ADD", netns, benchNs, a.agentSocket, null, "demo", "bench",
          "uid-bench");
      long t = (System.nanoTime() - t0) / 1000;
      assertThat(r.exit()).as(r.out() + r.err()).isZero();
      micros.add(t);
      assertThat(host.exec(benchNs, "ss", "-ltnH")).contains("*:15001", "*:15006", "*:15008");
      Host.Result d = cni.ambientj("DEL", netns, benchNs, a.agentSocket, null, "demo", "bench",
          "uid-bench");
      assertThat(d.exit()).as(d.out() + d.err()).isZero();
    }
    report("plugin process (JVM start) + agent rules + ztunnel in-pod listeners + Ack", micros);

    // the same without the plugin's JVM: the request line straight to the agent's socket
    micros.clear();
    for (int i = 0; i < 50; i++) {
      long t0 = System.nanoTime();
      String answer = askAgent(a.agentSocket, "ADD " + netns + " demo bench uid-bench");
      micros.add((System.nanoTime() - t0) / 1000);
      assertThat(answer).isEqualTo("OK");
      assertThat(askAgent(a.agentSocket, "DEL " + netns + " demo bench uid-bench")).isEqualTo("OK");
    }
    report("agent rules + ztunnel in-pod listeners + Ack (no plugin process)", micros);
  }

  private static void report(String what, List<Long> micros) {
    List<Long> sorted = new ArrayList<>(micros);
    sorted.sort(null);
    System.out.printf(Locale.ROOT, "CNI ADD latency, %s, %d runs: median %.1f ms, p99 %.1f ms"
            + " (the slowest of 50), min %.1f ms%n", what, sorted.size(),
        sorted.get(sorted.size() / 2 - 1) / 1000.0, sorted.get(sorted.size() - 1) / 1000.0,
        sorted.get(0) / 1000.0);
  }

  /** One request line to the node agent's socket, as the plugin sends it; returns the answer. */
  private static String askAgent(Path socket, String line) throws Exception {
    try (var ch = java.nio.channels.SocketChannel.open(java.net.UnixDomainSocketAddress.of(socket))) {
      ch.write(java.nio.ByteBuffer.wrap((line + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8)));
      java.nio.ByteBuffer in = java.nio.ByteBuffer.allocate(4096);
      while (ch.read(in) >= 0) {
        if (in.position() > 0 && in.get(in.position() - 1) == '\n') {
          break;
        }
      }
      return new String(in.array(), 0, in.position(), java.nio.charset.StandardCharsets.UTF_8).strip();
    }
  }

  @Test
  @Order(5)
  void unlabellingTheNamespaceStopsCaptureOfTheRunningPod() throws Exception {
    // requests keep flowing while the pod leaves the mesh: none may be refused on the way (ztunnel
    // keeps the pod's listeners until the agent, having removed the redirection, says Del)
    java.util.List<String> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
    java.util.concurrent.atomic.AtomicInteger sent = new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
    Thread traffic = Thread.ofPlatform().start(() -> {
      while (!stop.get()) {
        sent.incrementAndGet();
        try {
          host.exec(clientNs, "curl", "-sS", "--max-time", "5", "http://10.244.2.10:8080/");
        } catch (Exception e) {
          failures.add(e.getMessage());
        }
      }
    });
    Thread.sleep(200);
    Files.writeString(configFile, mesh(false));
    try {
      eventually(WAIT, () -> released(host, clientNs));
      Thread.sleep(300);
    } finally {
      stop.set(true);
      traffic.join();
    }
    assertThat(failures).as("requests refused or failed while un-labelling (of %d)", sent.get())
        .isEmpty();
    Thread.sleep(500); // the access-log lines of the last captured requests
    int settled = a.accessLog.lines().size();
    // the server is still in the mesh: its ztunnel takes the plaintext connection on 15006
    assertThat(curl("http://10.244.2.10:8080/")).contains("peer=10.244.2.10");
    assertThat(a.accessLog.lines()).hasSize(settled);
    eventually(WAIT, () -> b.accessLog.lines().stream().anyMatch(l -> !l.contains(CLIENT_ID)
        && l.contains("\"dst.addr\":\"10.244.2.10:8080\"") && l.contains("\"direction\":\"inbound\"")));
  }

  @Test
  @Order(6)
  void labellingItAgainRestoresCaptureWithoutARestart() throws Exception {
    Files.writeString(configFile, mesh(true));
    eventually(WAIT, () -> captured(host, clientNs));
    a.accessLog.clear();
    b.accessLog.clear();
    assertThat(curl("http://10.244.2.10:8080/")).contains("peer=10.244.2.10");
    eventually(WAIT, () -> a.accessLog.lines().stream().anyMatch(l -> l.contains(CLIENT_ID) && l.contains(SERVER_ID)));
    eventually(WAIT, () -> b.accessLog.lines().stream().anyMatch(l -> l.contains(CLIENT_ID) && l.contains(SERVER_ID)));
  }

  @Test
  @Order(8)
  void aRestartedAgentFollowsLabelChangesOfPodsThatStartedBeforeIt() throws Exception {
    a.stopAgent();
    Files.writeString(configFile, mesh(false)); // un-labelled while node-a has no agent
    eventually(WAIT, () -> config.snapshot().workloads().stream()
        .anyMatch(w -> w.name().equals("client") && !w.enrolled()));
    assertThat(host.exec(clientNs, "iptables-save")).as("nobody released the pod yet")
        .contains("AMBIENTJ");

    a.startAgent(); // knows the client pod from its pod list, not from a CNI call
    eventually(WAIT, () -> released(host, clientNs));

    Files.writeString(configFile, mesh(true));
    eventually(WAIT, () -> captured(host, clientNs));
    a.accessLog.clear();
    assertThat(curl("http://10.244.2.10:8080/")).contains("peer=10.244.2.10");
    eventually(WAIT, () -> a.accessLog.lines().stream().anyMatch(l -> l.contains(CLIENT_ID) && l.contains(SERVER_ID)));
  }

  /**
   * A restart of node-a's agent while the client pod sends a request every few milliseconds
   * (Istio's CNI upgrade): no request fails, the pod's rules never change (sampled throughout,
   * each iptables-save identical), and ztunnel stays ready.
   */
  @Test
  @Order(9)
  void aRestartOfTheAgentUnderTrafficChangesNothing() throws Exception {
    eventually(WAIT, () -> captured(host, clientNs));
    String rules = host.exec(clientNs, "iptables-save").lines()
        .filter(l -> l.contains("AMBIENTJ")).toList().toString();
    java.util.concurrent.atomic.AtomicBoolean running =
        new java.util.concurrent.atomic.AtomicBoolean(true);
    java.util.List<String> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
    java.util.concurrent.atomic.AtomicInteger requests =
        new java.util.concurrent.atomic.AtomicInteger();
    Thread traffic = Thread.ofPlatform().start(() -> {
      while (running.get()) {
        try {
          if (!curl("http://10.244.2.10:8080/").contains("peer=10.244.2.10")) {
            failures.add("unexpected answer");
          }
        } catch (Throwable e) {
          failures.add(String.valueOf(e.getMessage()).lines().findFirst().orElse(""));
        }
        requests.incrementAndGet();
      }
    });
    java.util.List<String> samples = new java.util.ArrayList<>();
    java.util.List<Boolean> ready = new java.util.ArrayList<>();
    try {
      Thread.sleep(500);
      a.stopAgent();
      for (int i = 0; i < 10; i++) {
        samples.add(host.exec(clientNs, "iptables-save").lines()
            .filter(l -> l.contains("AMBIENTJ")).toList().toString());
        ready.add(a.ztunnel.ready());
        Thread.sleep(100);
      }
      a.startAgent();
      long deadline = System.nanoTime() + Duration.ofSeconds(3).toNanos();
      while (System.nanoTime() < deadline) {
        samples.add(host.exec(clientNs, "iptables-save").lines()
            .filter(l -> l.contains("AMBIENTJ")).toList().toString());
        ready.add(a.ztunnel.ready());
        Thread.sleep(100);
      }
    } finally {
      running.set(false);
      traffic.join();
    }
    System.out.printf("agent restart under traffic: %d requests, %d failed %s; %d samples of the"
        + " pod's rules, %d different; ztunnel ready in %d of %d samples%n", requests.get(),
        failures.size(), failures, samples.size(),
        samples.stream().filter(x -> !x.equals(rules)).count(),
        ready.stream().filter(r -> r).count(), ready.size());
    assertThat(failures).as("requests that failed across the agent's restart").isEmpty();
    assertThat(requests.get()).isPositive();
    assertThat(samples).as("the pod's rules, sampled during the restart").allMatch(rules::equals);
    assertThat(ready).as("ztunnel readiness during the restart").allMatch(r -> r);
  }

  @Test
  @Order(7)
  void iperf3InTheClientPodMovesItsBytesThroughBothZtunnels() throws Exception {
    a.accessLog.clear();
    b.accessLog.clear();
    // bounded: two seconds at 20 Mbit/s; the JSON report says how many bytes iperf3 sent
    String report = host.exec(clientNs, "iperf3", "-c", "10.244.2.10", "-p", "5201", "-t", "2",
        "-b", "20M", "-J");
    java.util.regex.Matcher m = java.util.regex.Pattern
        .compile("\"sum_sent\"\\s*:\\s*\\{[^}]*?\"bytes\"\\s*:\\s*(\\d+)").matcher(report);
    assertThat(m.find()).as("iperf3's sum_sent in " + report).isTrue();
    long sent = Long.parseLong(m.group(1));
    assertThat(sent).as("iperf3 sent something").isGreaterThan(100_000);
    // every byte iperf3 wrote crossed ztunnel-a's outbound and ztunnel-b's inbound, with both ids
    try {
      eventually(WAIT, () -> bytesTo(a, "10.244.2.10:5201") >= sent);
      eventually(WAIT, () -> bytesTo(b, "10.244.2.10:5201") >= sent);
    } catch (AssertionError e) {
      throw new AssertionError("iperf3 sent " + sent + " bytes; ztunnel-a logged "
          + bytesTo(a, "10.244.2.10:5201") + ", ztunnel-b " + bytesTo(b, "10.244.2.10:5201")
          + "\nztunnel-a access log: " + a.accessLog.lines()
          + "\nztunnel-b access log: " + b.accessLog.lines(), e);
    }
  }

  /** Bytes client→server that {@code node}'s ztunnel logged for HBONE connections to {@code dst}. */
  private static long bytesTo(Node node, String dst) {
    long total = 0;
    java.util.regex.Pattern bytes = java.util.regex.Pattern.compile("\"bytes_sent\":(\\d+)");
    for (String l : node.accessLog.lines()) {
      if (l.contains("\"dst.hbone_addr\":\"" + dst + "\"") && l.contains(CLIENT_ID)
          && l.contains(SERVER_ID)) {
        java.util.regex.Matcher m = bytes.matcher(l);
        if (m.find()) {
          total += Long.parseLong(m.group(1));
        }
      }
    }
    return total;
  }



  private String curl(String url) throws Exception {
    return TwoNodeMesh.curl(host, clientNs, url, a.accessLog, b.accessLog);
  }





  private static String mesh(boolean frontLabelled) {
    return TwoNodeMesh.yaml("10.244", frontLabelled,
        TwoNodeMesh.pod("demo", "bench", "node-a", "10.244.1.20"),
        """
        apiVersion: v1
        kind: Service
        metadata: {name: server, namespace: demo}
        spec:
          clusterIP: 10.96.0.10
          selector: {app: server}
          ports: [{name: http, port: 80, targetPort: 8080}]
        """);
  }
}
