package dev.ambientj.perf.config;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * From an object change to a ztunnel enforcing it: two real ztunnels ({@code mesh ztunnel --xds},
 * child JVMs with the launcher's JVM defaults, certificates from a local CA root they share) on
 * two nodes of their own, a client pod on one and an echo server pod on the other (loopback
 * addresses, host mode). A connection goes client → SOCKS5 (client's ztunnel) → HBONE → server's
 * ztunnel → echo. The probe writes a DENY AuthorizationPolicy for the server through the
 * Kubernetes API and opens a new connection every few milliseconds until one is denied; then it
 * deletes the policy and waits until one is let through again.
 */
final class EndToEndProbe implements AutoCloseable {
  static final String NAMESPACE = "ns-0";
  static final String CLIENT_IP = "127.77.0.10";
  static final String SERVER_IP = "127.77.0.20";
  static final int SERVER_PORT = 8080;
  static final String POLICY = "e2e-deny";
  /** The launcher's defaults for ztunnel (launcher/src/main/sh/mesh-jvm-defaults). */
  static final List<String> ZTUNNEL_JVM = List.of("-XX:+UseSerialGC", "-Xms16m", "-Xmx128m",
      "-Xmn8m", "-XX:MinHeapFreeRatio=10", "-XX:MaxHeapFreeRatio=20",
      "-XX:MaxDirectMemorySize=128m", "-XX:ReservedCodeCacheSize=48m",
      "-XX:MaxMetaspaceSize=128m", "-Xss512k", "-XX:-UsePerfData");

  private final KubernetesClient kube;
  private final ServerSocket echo;
  private final List<ChildJvm> ztunnels = new ArrayList<>();

  /** Writes the two nodes and pods; call before the config server lists the cluster. */
  static void createObjects(KubernetesClient kube) {
    for (String[] n : new String[][] {{"node-e2e-a", "127.77.100.1"},
        {"node-e2e-b", "127.77.100.2"}}) {
      kube.nodes().resource(new NodeBuilder().withNewMetadata().withName(n[0]).endMetadata()
          .withNewStatus().addNewAddress().withType("InternalIP").withAddress(n[1]).endAddress()
          .endStatus().build()).create();
    }
    var client = ScaleCluster.pod("e2e-client", NAMESPACE, "e2e-client", 0, CLIENT_IP);
    client.getSpec().setNodeName("node-e2e-a");
    kube.pods().inNamespace(NAMESPACE).resource(client).create();
    var server = ScaleCluster.pod("e2e-server", NAMESPACE, "e2e-server", 0, SERVER_IP);
    server.getSpec().setNodeName("node-e2e-b");
    kube.pods().inNamespace(NAMESPACE).resource(server).create();
  }

  EndToEndProbe(KubernetesClient kube, int xdsPort, Path stateDir) throws Exception {
    this.kube = kube;
    echo = new ServerSocket();
    echo.bind(new InetSocketAddress(InetAddress.getByName(SERVER_IP), SERVER_PORT));
    Thread.ofVirtual().start(this::serveEcho);
    for (String node : List.of("node-e2e-a", "node-e2e-b")) {
      ChildJvm z = new ChildJvm(ZTUNNEL_JVM, "dev.ambientj.perf.config.ZtunnelMain",
          List.of("--xds", "127.0.0.1:" + xdsPort, "--node", node, "--state-dir",
              stateDir.toString()),
          "node " + node + " running", line -> {});
      ztunnels.add(z);
    }
    for (ChildJvm z : ztunnels) {
      z.awaitReady(600);
    }
  }

  /** Waits until a connection is let through (certificates issued, listeners up). */
  double awaitAllowed(long seconds) throws InterruptedException {
    long t0 = System.nanoTime();
    long deadline = t0 + seconds * 1_000_000_000L;
    while (System.nanoTime() < deadline) {
      if (probe()) {
        return (System.nanoTime() - t0) / 1e6;
      }
      Thread.sleep(20);
    }
    throw new IllegalStateException("no connection through the ztunnels within " + seconds
        + " s:\n" + String.join("\n", ztunnels.get(0).tail()) + "\n--\n"
        + String.join("\n", ztunnels.get(1).tail()));
  }

  /**
   * Writes the DENY policy and returns the ms until a new connection is denied; then deletes it
   * and returns (second element) the ms until one is let through again.
   */
  double[] denyThenAllow() throws Exception {
    var aps = kube.genericKubernetesResources(ScaleCluster.AUTHORIZATION_POLICIES)
        .inNamespace(NAMESPACE);
    long t0 = System.nanoTime();
    aps.resource(denyPolicy()).create();
    double denied = until(false, t0, 60);
    long t1 = System.nanoTime();
    aps.withName(POLICY).delete();
    double allowed = until(true, t1, 60);
    return new double[] {denied, allowed};
  }

  /** Probes until a connection is {@code allowed} (or not); ms since {@code t0}. */
  private double until(boolean allowed, long t0, int seconds) throws InterruptedException {
    long deadline = t0 + seconds * 1_000_000_000L;
    while (System.nanoTime() < deadline) {
      if (probe() == allowed) {
        return (System.nanoTime() - t0) / 1e6;
      }
      Thread.sleep(5);
    }
    throw new IllegalStateException("connections still " + (allowed ? "denied" : "allowed")
        + " " + seconds + " s after the change");
  }

  private static GenericKubernetesResource denyPolicy() {
    GenericKubernetesResource g = new GenericKubernetesResource();
    g.setApiVersion("security.istio.io/v1");
    g.setKind("AuthorizationPolicy");
    g.setMetadata(new ObjectMetaBuilder().withName(POLICY).withNamespace(NAMESPACE).build());
    g.setAdditionalProperty("spec", Map.of(
        "selector", Map.of("matchLabels", Map.of("app", "e2e-server")),
        "action", "DENY",
        "rules", List.of(Map.of("from", List.of(Map.of("source", Map.of("principals",
            List.of("cluster.local/ns/" + NAMESPACE + "/sa/e2e-client"))))))));
    return g;
  }

  /** One new connection through the mesh: true when the echo came back. */
  static boolean probe() {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(InetAddress.getByName(CLIENT_IP), 15080), 2000);
      s.setSoTimeout(3000);
      OutputStream out = s.getOutputStream();
      InputStream in = s.getInputStream();
      out.write(new byte[] {5, 1, 0});
      byte[] greeting = in.readNBytes(2);
      if (greeting.length != 2 || greeting[1] != 0) {
        return false;
      }
      byte[] ip = InetAddress.getByName(SERVER_IP).getAddress();
      out.write(new byte[] {5, 1, 0, 1, ip[0], ip[1], ip[2], ip[3],
          (byte) (SERVER_PORT >> 8), (byte) SERVER_PORT});
      byte[] reply = in.readNBytes(10);
      if (reply.length != 10 || reply[1] != 0) {
        return false;
      }
      out.write("ping\n".getBytes(StandardCharsets.US_ASCII));
      byte[] back = in.readNBytes(5);
      return new String(back, StandardCharsets.US_ASCII).equals("ping\n");
    } catch (IOException e) {
      return false;
    }
  }

  private void serveEcho() {
    while (!echo.isClosed()) {
      try {
        Socket c = echo.accept();
        Thread.ofVirtual().start(() -> {
          try (c) {
            c.getInputStream().transferTo(c.getOutputStream());
          } catch (IOException e) {
            // the client went away
          }
        });
      } catch (IOException e) {
        return;
      }
    }
  }

  List<ChildJvm> ztunnels() {
    return ztunnels;
  }

  @Override
  public void close() throws Exception {
    for (ChildJvm z : ztunnels) {
      z.close();
    }
    echo.close();
  }
}
