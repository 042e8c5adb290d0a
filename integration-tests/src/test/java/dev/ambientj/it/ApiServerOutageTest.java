package dev.ambientj.it;

import static dev.ambientj.it.MeshProcesses.eventually;
import static dev.ambientj.it.MeshProcesses.text;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.cni.agent.AgentProtocol;
import dev.ambientj.config.ProxyConfigSources;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.testing.PausableTcpProxy;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.NamespacedKubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The config server and the CNI agent, each run as its own process ({@code mesh config-server
 * --kubernetes}, {@code mesh cni-agent --kubernetes}) against Fabric8's mock API server (CRUD)
 * behind a {@link PausableTcpProxy} that black-holes it: every API call then hits Fabric8's
 * 10 s request timeout, as on the loaded machine where both processes used to exit 1 and
 * crash-loop. Each must stay up, log the outage once, say not ready, and become ready and serve
 * once the API answers.
 *
 * <pre>
 *   config-server / cni-agent ──kubeconfig──▶ PausableTcpProxy ──▶ mock API server (CRUD)
 * </pre>
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ApiServerOutageTest {
  private static final String P = "127.88";
  private static final Duration BOUND = Duration.ofSeconds(120);
  private static final Pattern READINESS = Pattern.compile("readiness on http://([0-9.]+):(\\d+)/readyz");

  private KubernetesMockServer mock;
  private NamespacedKubernetesClient admin;
  private PausableTcpProxy proxy;
  private Path dir;
  private Path kubeconfig;
  private final MeshProcesses processes = new MeshProcesses();

  @BeforeAll
  void start() throws Exception {
    dir = Files.createTempDirectory("ambientj-api-outage");
    Map<ServerRequest, Queue<ServerResponse>> responses = new HashMap<>();
    mock = new KubernetesMockServer(new Context(Serialization.jsonMapper()), new MockWebServer(),
        responses, new KubernetesMixedDispatcher(responses), false);
    mock.init(InetAddress.getLoopbackAddress(), 0);
    admin = mock.createClient();
    for (HasMetadata o : admin.load(new java.io.ByteArrayInputStream("""
        apiVersion: v1
        kind: Namespace
        metadata: {name: ambientj-system}
        ---
        apiVersion: v1
        kind: Namespace
        metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
        ---
        apiVersion: v1
        kind: Node
        metadata: {name: node-a}
        status: {addresses: [{type: InternalIP, address: 127.88.100.1}]}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: web-1, namespace: shop, uid: 5f0e-web-1, labels: {app: web}}
        spec: {nodeName: node-a, serviceAccountName: web, containers: [{name: app, image: app}]}
        status: {phase: Running, podIP: 127.88.1.10, podIPs: [{ip: 127.88.1.10}]}
        """.getBytes(StandardCharsets.UTF_8))).items()) {
      admin.resource(o).create();
    }
    proxy = PausableTcpProxy.start("127.0.0.1", mock.getPort());
    kubeconfig = dir.resolve("kubeconfig");
    Files.writeString(kubeconfig, """
        apiVersion: v1
        kind: Config
        clusters: [{name: mock, cluster: {server: "http://127.0.0.1:%d"}}]
        users: [{name: tester, user: {token: not-checked}}]
        contexts: [{name: mock, context: {cluster: mock, user: tester, namespace: ambientj-system}}]
        current-context: mock
        """.formatted(proxy.port()));
  }

  @AfterEach
  void stopProcesses() throws Exception {
    processes.close();
    proxy.resume();
  }

  @AfterAll
  void stop() {
    if (proxy != null) {
      proxy.close();
    }
    if (admin != null) {
      admin.close();
    }
    if (mock != null) {
      mock.destroy();
    }
  }

  @Test
  void theConfigServerWaitsNotListeningAndServesOnceTheApiAnswers() throws Exception {
    InetSocketAddress xds = new InetSocketAddress(P + ".0.1", 15010);
    proxy.blackHole();
    int held = proxy.heldConnections();
    Path log = dir.resolve("config-server.log");
    Process server = mesh(log, "config-server", "--kubernetes", "--listen", P + ".0.1:15010",
        "--state-dir", dir.resolve("state").toString(), "--namespace", "ambientj-system");

    eventually(BOUND, "the outage logged", server, log, () -> text(log).contains(" unavailable: "));
    eventually(BOUND, "more list attempts than kinds watched, each timed out (10 s)", server, log,
        () -> proxy.heldConnections() - held > 15);
    assertThat(server.isAlive()).as("still running after its API calls timed out").isTrue();
    assertThat(listening(xds)).as("not listening (not ready) without the mesh").isFalse();

    proxy.resume();
    eventually(BOUND, "listening once the API answers", server, log, () -> listening(xds));
    SnapshotPublisher ztunnel = new SnapshotPublisher();
    try (AutoCloseable source = ProxyConfigSources.start(new ProxyConfigSources.Options(List.of(),
        xds, "ztunnel", "ztunnel-a", "ambientj-system", "node-a", null, null), ztunnel, BOUND)) {
      assertThat(ztunnel.snapshot().workloads()).as("the mesh served over xDS")
          .anySatisfy(w -> assertThat(w.name()).isEqualTo("web-1"));
    }
    assertThat(admin.secrets().inNamespace("ambientj-system").withName("ambientj-ca-root").get())
        .as("the CA root stored once the API answered").isNotNull();
    assertOneLinePerOutage(text(log));
  }

  @Test
  void theCniAgentStaysUpNotReadyAndServesCniOnceTheApiAnswers() throws Exception {
    Path socket = dir.resolve("agent.sock");
    proxy.blackHole();
    int held = proxy.heldConnections();
    Path log = dir.resolve("cni-agent.log");
    Process agent = mesh(log, "cni-agent", "--kubernetes", "--socket", socket.toString(),
        "--state-dir", dir.resolve("agent-state").toString(), "--no-zds",
        "--readiness-address", P + ".0.2:0");
    eventually(BOUND, "the readiness address printed", agent, log, () -> READINESS.matcher(text(log)).find());
    Matcher m = READINESS.matcher(text(log));
    assertThat(m.find()).isTrue();
    InetSocketAddress readiness = new InetSocketAddress(m.group(1), Integer.parseInt(m.group(2)));

    eventually(BOUND, "the outage logged", agent, log, () -> text(log).contains(" unavailable: "));
    eventually(BOUND, "more list attempts than kinds watched, each timed out (10 s)", agent, log,
        () -> proxy.heldConnections() - held > 15);
    assertThat(agent.isAlive()).as("still running after its API calls timed out").isTrue();
    assertThat(get(readiness, "/readyz")).as("not ready, and why").startsWith("503")
        .contains("not listed from the Kubernetes API");
    assertThat(Files.exists(socket)).as("no CNI answered before the mesh is listed").isFalse();

    proxy.resume();
    eventually(BOUND, "ready once the API answers", agent, log, () -> get(readiness, "/readyz").startsWith("200"));
    assertThat(cni(socket, AgentProtocol.request(AgentProtocol.ADD, "", "shop", "web-1", "5f0e-web-1")))
        .as("the agent knows the enrolled pod from the API (and wants its netns)")
        .startsWith(AgentProtocol.ERR).contains("no netns given");
    assertOneLinePerOutage(text(log));
  }

  /** The outage is one WARN line, its end one INFO line; no stack trace. */
  private static void assertOneLinePerOutage(String log) {
    assertThat(log.lines().filter(l -> l.contains(" unavailable: "))).as("outage lines in:\n" + log)
        .hasSize(1);
    assertThat(log).as("the outage's end logged").contains(" is back, ");
    assertThat(log.lines().filter(l -> l.startsWith("\tat ") || l.startsWith("Caused by")))
        .as("stack traces in the log").isEmpty();
  }

  private Process mesh(Path log, String... args) throws IOException {
    return processes.start(log, Map.of("KUBECONFIG", kubeconfig.toString()), args);
  }

  private static boolean listening(InetSocketAddress a) {
    try (Socket s = new Socket()) {
      s.connect(a, 1000);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  /** {@code GET path}: "status body", or "" when nothing answers. */
  private static String get(InetSocketAddress a, String path) {
    try (Socket s = new Socket()) {
      s.connect(a, 2000);
      s.setSoTimeout(5000);
      s.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
          .getBytes(StandardCharsets.US_ASCII));
      String response = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      int body = response.indexOf("\r\n\r\n");
      return response.substring(9, 12) + " " + (body < 0 ? "" : response.substring(body + 4));
    } catch (IOException | RuntimeException e) {
      return "";
    }
  }

  /** One request to the agent's socket, as the CNI plugin sends it; its one-line answer. */
  private static String cni(Path socket, String request) throws IOException {
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.connect(UnixDomainSocketAddress.of(socket));
      ch.write(ByteBuffer.wrap((request + "\n").getBytes(StandardCharsets.UTF_8)));
      InputStream in = java.nio.channels.Channels.newInputStream(ch);
      return new String(in.readAllBytes(), StandardCharsets.UTF_8).strip();
    }
  }
}
