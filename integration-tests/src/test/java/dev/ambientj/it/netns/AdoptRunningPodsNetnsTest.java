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
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Adopting ambient mode on a node whose pods are already running, as root, with network
 * namespaces for hosts:
 *
 * <pre>
 *   node-a (netns) ── veth 10.245.255.0/30 ── node-b (netns)
 *     cni0 10.245.1.1                            cni0 10.245.2.1
 *       client pod 10.245.1.10 (sleep; curl)       server pod 10.245.2.10 (socat :8080)
 *   ztunnel-a, cni-agent-a                      ztunnel-b, cni-agent-b     (this JVM, root netns)
 * </pre>
 *
 * The pods are wired by the CNI reference plugins alone (bridge + host-local) and their processes
 * start before any node agent exists: no CNI ADD ever reaches ours, the agents' pod lists are
 * empty. Then the agents and ztunnels start with both namespaces labelled ambient; each agent
 * finds its node's pods in {@code /proc} by IP and captures them — an unmodified curl in the
 * client pod reaches the server through both ztunnels, with both identities in their access logs.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AdoptRunningPodsNetnsTest {

  private final Host host = new Host();
  private final String id = Long.toHexString(System.nanoTime() & 0xffff);
  private Path work;
  private Path configFile;
  private SnapshotPublisher config;
  private IdentityProvider identities;
  private String clientNs;
  private String serverNs;
  private Process clientSleep;
  private Node a;
  private Node b;

  /** One node's agent (adopting running pods) and ztunnel. */
  private final class Node {
    final Path podsFile;
    final InMemoryAccessLogSink accessLog = new InMemoryAccessLogSink();
    final Ztunnel ztunnel;

    Node(String name) throws Exception {
      Path zdsSocket = work.resolve("zds-" + name + ".sock");
      podsFile = work.resolve("state-" + name + "/cni-agent-pods");
      NodeAgent agent = NodeAgent.start(work.resolve("agent-" + name + ".sock"), config::snapshot,
          new InpodRedirect(CommandRunner.nsenter()), podsFile);
      host.onClose(agent::close);
      agent.zds(ZtunnelServer.start(zdsSocket)).adoptRunningPods(name, Path.of("/proc"));
      AutoCloseable sub = config.subscribe(new SnapshotListener() {
        @Override
        public void onSnapshot(MeshSnapshot snapshot) {
          agent.reconcile(snapshot);
        }
      });
      host.onClose(sub::close);
      ztunnel = Ztunnel.builder().node(name).config(config).identityProvider(identities)
          .transport(Transport.select(Transport.Kind.EPOLL))
          .adminAddress(InetAddress.getLoopbackAddress()).nodePorts(0, 0, 0)
          .drainDeadline(Duration.ofMillis(200))
          .accessLog(accessLog).inPod(zdsSocket).build().start();
      host.onClose(ztunnel::close);
    }
  }

  @BeforeAll
  void setUp() throws Exception {
    Privileged.require("ip", "iptables-restore", "iptables-save", "nsenter", "curl", "socat", "ss",
        "sleep", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local");
    work = Files.createTempDirectory("ambientj-adopt-");
    host.onClose(() -> deleteTree(work));
    Cni cni = new Cni("ajr-" + id, work);

    // two nodes joined by a veth pair, each routing the other's pod subnet
    String nodeA = host.netns("ajra-" + id);
    String nodeB = host.netns("ajrb-" + id);
    Host.run("ip", "link", "add", "ajra" + id, "netns", nodeA, "type", "veth", "peer", "name",
        "ajrb" + id, "netns", nodeB);
    host.exec(nodeA, "ip", "addr", "add", "10.245.255.1/30", "dev", "ajra" + id);
    host.exec(nodeB, "ip", "addr", "add", "10.245.255.2/30", "dev", "ajrb" + id);
    host.exec(nodeA, "ip", "link", "set", "ajra" + id, "up");
    host.exec(nodeB, "ip", "link", "set", "ajrb" + id, "up");
    host.exec(nodeA, "ip", "route", "add", "10.245.2.0/24", "via", "10.245.255.2");
    host.exec(nodeB, "ip", "route", "add", "10.245.1.0/24", "via", "10.245.255.1");
    host.exec(nodeA, "sysctl", "-qw", "net.ipv4.ip_forward=1");
    host.exec(nodeB, "sysctl", "-qw", "net.ipv4.ip_forward=1");

    // the pods: wired by the primary plugin only, their processes running — no agent yet
    serverNs = host.netns("ajrs-" + id);
    clientNs = host.netns("ajrc-" + id);
    wire(cni, nodeB, serverNs, "10.245.2.0/24", "10.245.2.1", "10.245.2.10");
    wire(cni, nodeA, clientNs, "10.245.1.0/24", "10.245.1.1", "10.245.1.10");
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
    clientSleep = host.start("ip", "netns", "exec", clientNs, "sleep", "600");
    assertThat(curlOk("http://10.245.2.10:8080/")).as("the pods talk, uncaptured").isTrue();
    assertThat(host.exec(clientNs, "iptables-save")).doesNotContain("AMBIENTJ");

    // now ambient mode arrives on the nodes, both namespaces already labelled
    configFile = work.resolve("mesh.yaml");
    Files.writeString(configFile, TwoNodeMesh.yaml("10.245", true));
    config = new SnapshotPublisher();
    FileConfigSource source = FileConfigSource.start(List.of(configFile), config);
    host.onClose(source::close);
    identities = LocalCertificateAuthority.create(TD).asIdentityProvider(Duration.ofHours(1));
    a = new Node("node-a");
    b = new Node("node-b");
    assertThat(a.ztunnel.awaitReady(WAIT)).as("ztunnel-a ready").isTrue();
    assertThat(b.ztunnel.awaitReady(WAIT)).as("ztunnel-b ready").isTrue();
  }

  /** The primary plugin's ADD (bridge + host-local) for a pod; its DEL registered for close. */
  private void wire(Cni cni, String nodeNs, String podNs, String subnet, String gateway, String ip)
      throws Exception {
    String netns = "/var/run/netns/" + podNs;
    String bridgeConfig = cni.bridgeConfig(subnet, gateway, ip);
    Host.Result br = cni.bridge("ADD", nodeNs, netns, podNs, bridgeConfig);
    assertThat(br.exit()).as("bridge ADD: " + br.out() + br.err()).isZero();
    host.onClose(() -> cni.bridge("DEL", nodeNs, netns, podNs, bridgeConfig));
  }

  @AfterAll
  void tearDown() {
    host.close();
  }

  @Test
  @Order(1)
  void runningPodsAreCapturedWithoutCniAddOrRestart() throws Exception {
    eventually(WAIT, () -> captured(host, clientNs) && captured(host, serverNs));
    // the client pod is known by the netns of its only (so lowest) process, with that netns' inode
    assertThat(Files.readString(a.podsFile))
        .contains("uid-client uid-client front client /proc/" + clientSleep.pid() + "/ns/net true ");
    assertThat(Files.readString(b.podsFile)).contains("uid-server uid-server demo server /proc/")
        .doesNotContain("uid-client");

    String body = curl("http://10.245.2.10:8080/");
    // the app sees ztunnel-b's connection from inside its own pod, not the client's address
    assertThat(body).contains("peer=10.245.2.10");
    eventually(WAIT, () -> a.accessLog.lines().stream().anyMatch(l -> l.contains(CLIENT_ID) && l.contains(SERVER_ID)));
    eventually(WAIT, () -> b.accessLog.lines().stream().anyMatch(l -> l.contains(CLIENT_ID) && l.contains(SERVER_ID)));
    assertThat(host.exec(clientNs, "ss", "-ltnHe")).contains("*:15001", "fwmark:0x539");
    assertThat(host.exec(serverNs, "ss", "-ltnH")).contains("*:15008", "*:15006");
  }

  @Test
  @Order(2)
  void anAdoptedPodFollowsLabelChangesLikeAnyOther() throws Exception {
    Files.writeString(configFile, TwoNodeMesh.yaml("10.245", false));
    eventually(WAIT, () -> released(host, clientNs));
    int before = a.accessLog.lines().size();
    assertThat(curl("http://10.245.2.10:8080/")).contains("peer=10.245.2.10");
    assertThat(a.accessLog.lines()).as("uncaptured again").hasSize(before);

    Files.writeString(configFile, TwoNodeMesh.yaml("10.245", true));
    eventually(WAIT, () -> captured(host, clientNs));
    a.accessLog.clear();
    assertThat(curl("http://10.245.2.10:8080/")).contains("peer=10.245.2.10");
    eventually(WAIT, () -> a.accessLog.lines().stream().anyMatch(l -> l.contains(CLIENT_ID) && l.contains(SERVER_ID)));
  }



  private boolean curlOk(String url) {
    try {
      return host.exec(clientNs, "curl", "-sS", "--max-time", "10", url).contains("peer=");
    } catch (Exception e) {
      return false;
    }
  }

  private String curl(String url) throws Exception {
    return TwoNodeMesh.curl(host, clientNs, url, a.accessLog, b.accessLog);
  }




}
