package dev.ambientj.waypoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ambientj.config.MeshTranslator;
import dev.ambientj.config.MeshYaml;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.WaypointRef;
import dev.ambientj.waypoint.cluster.ClusterManager;
import dev.ambientj.waypoint.filter.ratelimit.RateLimiter;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The repository's example mesh (examples/mesh.yaml + payment-policies.yaml), as payment-waypoint sees it. */
class ExamplesTest {
  @Test
  void paymentWaypointCompilesTheExamplePolicies() throws Exception {
    Path dir = Path.of("..", "examples");
    assumeTrue(Files.exists(dir.resolve("mesh.yaml")) && Files.exists(dir.resolve("payment-policies.yaml")),
        "examples/ not present");
    List<io.fabric8.kubernetes.api.model.HasMetadata> objects = new ArrayList<>();
    for (String f : List.of("mesh.yaml", "payment-policies.yaml")) {
      MeshYaml.Result r = MeshYaml.load(dir.resolve(f));
      assertThat(r.errors()).isEmpty();
      objects.addAll(r.objects());
    }
    MeshSnapshot s = new MeshTranslator().translate(objects);
    WaypointConfig c = WaypointConfig.compile(s, new WaypointRef("production", "payment-waypoint"), new ClusterManager(),
        new RateLimiter(Ticker.system()));
    assertThat(c.waypoint().addresses()).contains(InetAddress.getByName("127.0.1.30"));
    ServiceBinding b = c.findBinding(InetAddress.getByName("127.10.0.20"), 80);
    assertThat(b).isNotNull();
    assertThat(b.protocol()).isEqualTo(PortProtocol.HTTP);
    assertThat(b.routes().source()).startsWith("VirtualService production/");
    assertThat(b.authorizer().isEmpty()).isFalse();
    assertThat(b.rateLimits()).isNotEmpty();
    assertThat(c.problems()).as("the examples need no warnings").isEmpty();
  }
}
