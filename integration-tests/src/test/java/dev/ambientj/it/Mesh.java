package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.FileConfigSource;
import dev.ambientj.config.MeshTranslator;
import dev.ambientj.config.MeshYaml;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Workload;
import dev.ambientj.hbone.HboneClient;
import dev.ambientj.hbone.HboneClientConfig;
import dev.ambientj.hbone.identity.IdentityProvider;
import dev.ambientj.hbone.identity.LocalCertificateAuthority;
import dev.ambientj.hbone.transport.Transport;
import dev.ambientj.launcher.demo.EchoBackend;
import dev.ambientj.ztunnel.ListenerBinder;
import dev.ambientj.ztunnel.Ztunnel;
import dev.ambientj.ztunnel.proxy.ProxyLimits;
import dev.ambientj.ztunnel.telemetry.InMemoryAccessLogSink;
import io.netty.channel.EventLoopGroup;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * A whole host-mode mesh in one JVM, read like a topology:
 *
 * <pre>{@code
 * try (Mesh mesh = Mesh.fromYaml(yaml)) {
 *   mesh.node("node-a").ztunnel();
 *   mesh.node("node-b").ztunnel();
 *   mesh.workload("orders-0").httpEcho(8080);
 *   Socks5Client.httpGet(mesh.workload("api-gateway-0").socks(), "orders.production…", 80, …);
 * }
 * }</pre>
 *
 * <p>Configuration comes from a YAML string (published by the harness) or a file (watched by the
 * real {@link FileConfigSource}). All ztunnels share one local CA (so they trust each other) and one
 * two-thread event-loop group; each node keeps its access log in memory. Everything binds the
 * 127.x addresses of the YAML: give every test class its own range.
 */
final class Mesh implements AutoCloseable {
  static final Duration TIMEOUT = Duration.ofSeconds(10);

  private final SnapshotPublisher publisher = new SnapshotPublisher();
  private final FileConfigSource fileSource;
  private final LocalCertificateAuthority ca = LocalCertificateAuthority.create("cluster.local");
  private final IdentityProvider identities = ca.asIdentityProvider(Duration.ofHours(1));
  /** {@code -Dit.transport=nio|epoll|io_uring} runs the mesh on that transport (default auto). */
  private final Transport transport =
      Transport.select(Transport.Kind.parse(System.getProperty("it.transport", "auto")));
  private final EventLoopGroup group = transport.newEventLoopGroup(2, "it-mesh");
  private final Map<String, Node> nodes = new LinkedHashMap<>();
  private final List<AutoCloseable> closeables = new ArrayList<>();
  private HboneClient rawClient;

  private Mesh(List<Path> files) {
    this.fileSource = files.isEmpty() ? null : FileConfigSource.start(files, publisher);
  }

  /** A mesh configured from {@code yaml} (republish with {@link #apply}). */
  static Mesh fromYaml(String yaml) {
    Mesh mesh = new Mesh(List.of());
    mesh.apply(yaml);
    return mesh;
  }

  /** A mesh configured from files that are watched for changes. */
  static Mesh fromFile(Path... files) {
    return new Mesh(List.of(files));
  }

  /** Translates {@code yaml} and publishes it; fails on YAML errors or rejected objects. */
  void apply(String yaml) {
    MeshYaml.Result parsed = MeshYaml.load(yaml, "test");
    assertThat(parsed.errors()).as("YAML errors").isEmpty();
    MeshSnapshot snapshot = new MeshTranslator().translate(parsed.objects());
    assertThat(snapshot.rejections()).as("rejected objects").isEmpty();
    publisher.publish(snapshot);
  }

  MeshSnapshot snapshot() {
    return publisher.snapshot();
  }

  /** The publisher the ztunnels follow (e.g. for a config server's CA to check nodes). */
  SnapshotPublisher publisher() {
    return publisher;
  }

  LocalCertificateAuthority ca() {
    return ca;
  }

  Transport transport() {
    return transport;
  }

  EventLoopGroup group() {
    return group;
  }

  Node node(String name) {
    return nodes.computeIfAbsent(name, Node::new);
  }

  Pod workload(String name) {
    Workload w = snapshot().workloads().stream().filter(x -> x.name().equals(name)).findFirst()
        .orElseThrow(() -> new AssertionError("no workload " + name + " in the mesh"));
    return new Pod(w);
  }

  /** An HBONE client of our own, to speak to a ztunnel's 15008 directly (as a misbehaving peer). */
  synchronized HboneClient rawHboneClient() {
    if (rawClient == null) {
      rawClient = new HboneClient(HboneClientConfig.defaults(), transport, group, identities);
    }
    return rawClient;
  }

  <T extends AutoCloseable> T own(T closeable) {
    closeables.add(closeable);
    return closeable;
  }

  @Override
  public void close() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
    for (Node n : nodes.values()) {
      if (n.ztunnel != null) {
        n.ztunnel.close();
      }
    }
    if (rawClient != null) {
      rawClient.close();
    }
    if (fileSource != null) {
      fileSource.close();
    }
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  /** One node: its ztunnel and what it reported. */
  final class Node {
    final String name;
    final InMemoryAccessLogSink accessLog = new InMemoryAccessLogSink();
    private Ztunnel ztunnel;
    private ListenerBinder binder = ListenerBinder.hostMode();
    private IdentityProvider nodeIdentities;
    private ProxyLimits limits;

    Node(String name) {
      this.name = name;
    }

    /** Binds this node's workload listeners through {@code binder} (before {@link #ztunnel()}). */
    Node binder(ListenerBinder binder) {
      this.binder = binder;
      return this;
    }

    /**
     * This node's certificate source (before {@link #ztunnel()}), e.g. a certificate manager on
     * the config server's CA with this node's token; default: the mesh's shared local CA.
     */
    Node identities(IdentityProvider provider) {
      this.nodeIdentities = provider;
      return this;
    }

    /** This node's listener deadlines and caps (before {@link #ztunnel()}); default: derived. */
    Node limits(ProxyLimits limits) {
      this.limits = limits;
      return this;
    }

    /** Starts this node's ztunnel (once) and waits until it is ready. */
    Ztunnel ztunnel() throws InterruptedException {
      if (ztunnel == null) {
        Ztunnel.Builder builder = Ztunnel.builder()
            .node(name)
            .config(publisher)
            .identityProvider(nodeIdentities != null ? nodeIdentities : identities)
            .transport(transport)
            .eventLoopGroup(group)
            .accessLog(accessLog)
            .binder(binder);
        if (limits != null) {
          builder.limits(limits);
        }
        ztunnel = builder.build().start();
        assertThat(ztunnel.awaitReady(TIMEOUT)).as("ztunnel on %s ready", name).isTrue();
      }
      return ztunnel;
    }

    /** GET {@code path} from this node's metrics (15020), admin (15000) or readiness (15021) port. */
    HttpResponse<String> get(InetSocketAddress address, String path) throws Exception {
      try (HttpClient http = HttpClient.newBuilder().connectTimeout(TIMEOUT).build()) {
        return http.send(HttpRequest.newBuilder(URI.create("http://"
                + address.getAddress().getHostAddress() + ":" + address.getPort() + path))
                .timeout(TIMEOUT).build(),
            HttpResponse.BodyHandlers.ofString());
      }
    }

    String metrics() throws Exception {
      HttpResponse<String> r = get(ztunnel().metricsAddress(), "/metrics");
      assertThat(r.statusCode()).isEqualTo(200);
      return r.body();
    }

    /** Waits for an access-log line matching {@code match} (lines are written on close). */
    String awaitAccessLog(Predicate<String> match) throws InterruptedException {
      long deadline = System.nanoTime() + TIMEOUT.toNanos();
      while (System.nanoTime() < deadline) {
        Optional<String> line = accessLog.lines().stream().filter(match).findFirst();
        if (line.isPresent()) {
          return line.get();
        }
        TimeUnit.MILLISECONDS.sleep(20);
      }
      throw new AssertionError("no access-log line on " + name + " matched; lines:\n"
          + String.join("\n", accessLog.lines()));
    }
  }

  /** One pod of the configuration and the apps the test runs "in" it. */
  final class Pod {
    final Workload model;

    Pod(Workload model) {
      this.model = model;
    }

    InetAddress address() {
      return model.addresses().get(0);
    }

    /** The pod's SOCKS5 listener (ztunnel 15080). */
    InetSocketAddress socks() {
      return new InetSocketAddress(address(), 15080);
    }

    /** Runs the demo's HTTP echo app on {@code podIP:port}. */
    Pod httpEcho(int port) throws InterruptedException {
      Node node = node(model.node());
      own(EchoBackend.start(group, transport.serverChannelClass(),
          new InetSocketAddress(address(), port), model.name(), model.canonicalRevision(),
          peer -> node.ztunnel == null ? Optional.empty()
              : node.ztunnel.findInboundPeerIdentity(peer)));
      return this;
    }

    /** Runs a byte-exact TCP echo on {@code podIP:port}. */
    Pod tcpEcho(int port) throws InterruptedException {
      own(TcpEchoServer.start(group, transport, new InetSocketAddress(address(), port)));
      return this;
    }
  }
}
