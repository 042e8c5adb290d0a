package dev.ambientj.it.netns;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.ztunnel.telemetry.InMemoryAccessLogSink;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.BooleanSupplier;

/**
 * What the in-pod netns tests share: the mesh YAML of two nodes with a client pod in namespace
 * {@code front} (labelled ambient or not) and a server pod in {@code demo}, and the checks of a
 * pod's capture.
 */
final class TwoNodeMesh {
  static final String TD = "cluster.local";
  static final String CLIENT_ID = "spiffe://cluster.local/ns/front/sa/client";
  static final String SERVER_ID = "spiffe://cluster.local/ns/demo/sa/server";
  /** How long a capture change may take to show. */
  static final Duration WAIT = Duration.ofSeconds(20);

  private TwoNodeMesh() {}

  /**
   * Nodes {@code node-a}/{@code node-b} at {@code <net>.255.1/2}, namespaces {@code demo}
   * (ambient) and {@code front}, pods {@code front/client} ({@code <net>.1.10}, node-a) and
   * {@code demo/server} ({@code <net>.2.10}, node-b), then {@code more} documents.
   *
   * @param net the first two octets, e.g. {@code 10.244}
   */
  static String yaml(String net, boolean frontLabelled, String... more) {
    StringBuilder b = new StringBuilder("""
        apiVersion: v1
        kind: Node
        metadata: {name: node-a}
        status: {addresses: [{type: InternalIP, address: %1$s.255.1}]}
        ---
        apiVersion: v1
        kind: Node
        metadata: {name: node-b}
        status: {addresses: [{type: InternalIP, address: %1$s.255.2}]}
        ---
        apiVersion: v1
        kind: Namespace
        metadata:
          name: demo
          labels: {istio.io/dataplane-mode: ambient}
        ---
        apiVersion: v1
        kind: Namespace
        metadata:
          name: front
          labels: {%2$s}
        """.formatted(net, frontLabelled ? "istio.io/dataplane-mode: ambient" : ""));
    b.append("---\n").append(pod("front", "client", "node-a", net + ".1.10"));
    b.append("---\n").append(pod("demo", "server", "node-b", net + ".2.10"));
    for (String doc : more) {
      b.append("---\n").append(doc);
    }
    return b.toString();
  }

  static String pod(String namespace, String name, String node, String ip) {
    return """
        apiVersion: v1
        kind: Pod
        metadata:
          name: %s
          namespace: %s
          uid: uid-%s
          labels: {app: %s}
        spec:
          nodeName: %s
          serviceAccountName: %s
          containers: [{name: app, image: example/app:1.0}]
        status: {phase: Running, podIP: %s}
        """.formatted(name, namespace, name, name, node, name, ip);
  }

  /** Whether our rules and ztunnel's outbound listener are in pod netns {@code ns}. */
  static boolean captured(Host host, String ns) {
    return redirection(host, ns, true);
  }

  /** Whether neither our rules nor ztunnel's outbound listener are in pod netns {@code ns}. */
  static boolean released(Host host, String ns) {
    return redirection(host, ns, false);
  }

  private static boolean redirection(Host host, String ns, boolean present) {
    try {
      return host.exec(ns, "iptables-save").contains("AMBIENTJ") == present
          && host.exec(ns, "ss", "-ltnH").contains(":15001") == present;
    } catch (Exception e) {
      return false;
    }
  }

  /**
   * An unmodified curl in pod netns {@code ns}; a failure is an assertion error carrying both
   * ztunnels' access logs.
   */
  static String curl(Host host, String ns, String url, InMemoryAccessLogSink a,
      InMemoryAccessLogSink b) throws Exception {
    try {
      return host.exec(ns, "curl", "-sS", "--max-time", "10", url);
    } catch (java.io.IOException e) {
      throw new AssertionError(e.getMessage() + "\nztunnel-a access log: " + a.lines()
          + "\nztunnel-b access log: " + b.lines(), e);
    }
  }

  static void eventually(Duration wait, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + wait.toNanos();
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("condition within " + wait).isLessThan(deadline);
      Thread.sleep(50);
    }
  }

  static void deleteTree(Path dir) throws Exception {
    try (var walk = Files.walk(dir)) {
      for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
