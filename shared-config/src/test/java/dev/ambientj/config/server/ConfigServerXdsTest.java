package dev.ambientj.config.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.xds.ProxyNode;
import dev.ambientj.config.xds.XdsConfigSource;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code mesh config-server} serves delta xDS next to the CA; node tokens scope the policies. */
class ConfigServerXdsTest {
  @TempDir Path tmp;

  private static Path examples() {
    Path dir = Path.of("").toAbsolutePath();
    while (!Files.isDirectory(dir.resolve("examples"))) {
      dir = dir.getParent();
    }
    return dir.resolve("examples");
  }

  @Test
  void servesXdsWithTheCa() throws Exception {
    Path state = tmp.resolve("state");
    var o = ConfigServerCommand.Options.parse(new String[] {
        "--config", examples().resolve("mesh.yaml").toString(), "--state-dir", state.toString(),
        "--listen", "127.0.0.1:0"});
    ByteArrayOutputStream printed = new ByteArrayOutputStream();
    try (var running = ConfigServerCommand.Running.start(o, new PrintStream(printed, true))) {
      assertThat(printed.toString()).contains("DeltaAggregatedResources");
      SnapshotPublisher snapshots = new SnapshotPublisher();
      String token = Files.readString(state.resolve("node-tokens/node-a.token")).strip();
      try (XdsConfigSource xds = XdsConfigSource.builder(running.server().address(),
              ProxyNode.node("ztunnel", "127.0.100.1", "ztunnel-a", "istio-system", ""),
              snapshots)
          .bearerToken(token).start()) {
        MeshSnapshot s = xds.ready().get(10, TimeUnit.SECONDS);
        assertThat(s.workloads()).hasSameSizeAs(running.publisher().snapshot().workloads());
        assertThat(s.services()).hasSameSizeAs(running.publisher().snapshot().services());
        assertThat(s.findNode("node-a")).isPresent();
      }
    }
  }
}
