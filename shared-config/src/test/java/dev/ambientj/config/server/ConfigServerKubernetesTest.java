package dev.ambientj.config.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Workload;
import dev.ambientj.config.xds.ProxyNode;
import dev.ambientj.config.xds.XdsConfigSource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code mesh config-server --kubernetes} against Fabric8's mock API server: ztunnels get the
 * cluster's workloads over xDS, changes follow, and every Node object gets a node token.
 */
@EnableKubernetesMockClient(crud = true)
class ConfigServerKubernetesTest {
  private static final Duration BOUND = Duration.ofSeconds(15);

  KubernetesClient client;
  @TempDir Path tmp;

  private void apply(String yaml) {
    for (HasMetadata o :
        client.load(new ByteArrayInputStream(yaml.getBytes(StandardCharsets.UTF_8))).items()) {
      client.resource(o).create();
    }
  }

  private static String node(String name, String ip) {
    return """
        apiVersion: v1
        kind: Node
        metadata:
          name: %s
        status:
          addresses:
          - type: InternalIP
            address: %s
        ---
        """.formatted(name, ip);
  }

  private static String pod(String name, String ip, String node) {
    return """
        apiVersion: v1
        kind: Pod
        metadata:
          name: %s
          namespace: shop
          labels:
            app: web
        spec:
          nodeName: %s
          serviceAccountName: web
          containers:
          - name: app
            image: app
        status:
          phase: Running
          podIP: %s
        ---
        """.formatted(name, node, ip);
  }

  private static void eventually(String what, BooleanSupplier condition)
      throws InterruptedException {
    long deadline = System.nanoTime() + BOUND.toNanos();
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("eventually: " + what).isLessThan(deadline);
      Thread.sleep(10);
    }
  }

  @Test
  void kubernetesAndConfigExcludeEachOtherAndOneIsRequired() throws Exception {
    assertThat(ConfigServerCommand.Options.parse(new String[] {"--kubernetes"}).kubernetes())
        .isTrue();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream errStream = new PrintStream(err, true, StandardCharsets.UTF_8);
    PrintStream out = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
    assertThat(ConfigServerCommand.run(
            new String[] {"--kubernetes", "--config", "mesh.yaml"}, out, errStream))
        .isEqualTo(2);
    assertThat(err.toString()).contains("exclude each other").contains("--kubernetes");
    assertThat(ConfigServerCommand.commandLine().getUsageMessage()).contains("--kubernetes");
  }

  @Test
  void servesTheClustersWorkloadsOverXdsAndFollowsChanges() throws Exception {
    apply("""
        apiVersion: v1
        kind: Namespace
        metadata:
          name: shop
          labels:
            istio.io/dataplane-mode: ambient
        ---
        """ + node("node-a", "10.0.0.1") + pod("web-1", "10.1.0.1", "node-a")
        + pod("web-2", "10.1.0.2", "node-a"));
    Path state = tmp.resolve("state");
    var o = ConfigServerCommand.Options.parse(new String[] {
        "--kubernetes", "--state-dir", state.toString(), "--listen", "127.0.0.1:0"});
    ByteArrayOutputStream printed = new ByteArrayOutputStream();
    try (var running =
        ConfigServerCommand.Running.start(o, new PrintStream(printed, true), client)) {
      assertThat(printed.toString()).contains("watching the mesh at").contains("node-a");
      String token = Files.readString(state.resolve("node-tokens/node-a.token")).strip();
      SnapshotPublisher snapshots = new SnapshotPublisher();
      try (XdsConfigSource xds = XdsConfigSource.builder(running.server().address(),
              ProxyNode.node("ztunnel", "127.0.100.1", "ztunnel-a", "istio-system", "node-a"),
              snapshots)
          .bearerToken(token).start()) {
        MeshSnapshot first = xds.ready().get(BOUND.toSeconds(), TimeUnit.SECONDS);
        assertThat(first.workloads()).extracting(Workload::name)
            .containsExactlyInAnyOrder("web-1", "web-2");
        assertThat(first.workloads()).allMatch(Workload::enrolled);

        apply(pod("web-3", "10.1.0.3", "node-a"));
        eventually("the new pod reaches the ztunnel over xDS",
            () -> snapshots.snapshot().workloads().stream().anyMatch(w -> w.name().equals("web-3")));

        client.pods().inNamespace("shop").withName("web-1").delete();
        eventually("the deleted pod leaves the ztunnel's view",
            () -> snapshots.snapshot().workloads().stream().noneMatch(w -> w.name().equals("web-1")));
      }

      apply(node("node-b", "10.0.0.2"));
      eventually("a new Node object gets its node token",
          () -> Files.exists(state.resolve("node-tokens/node-b.token")));
    }
  }
}
