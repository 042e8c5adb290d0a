package dev.ambientj.config.xds;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.MeshTranslator;
import dev.ambientj.config.MeshYaml;
import dev.ambientj.config.TelemetryTracing;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.WaypointRef;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Telemetry resources ({@code tracing[].randomSamplingPercentage}): accepted in both API versions,
 * refused out of range, resolved per waypoint by Istio's hierarchy, and carried to the waypoints
 * they apply to over xDS, as the file source has them.
 */
class TelemetryOverXdsTest {
  private static final WaypointRef WAYPOINT = new WaypointRef("production", "payment-waypoint");

  private static String telemetry(String apiVersion, String ns, String name, String extra, String percentage) {
    return "---\napiVersion: telemetry.istio.io/" + apiVersion + "\nkind: Telemetry\nmetadata:\n  name: " + name
        + "\n  namespace: " + ns + "\nspec:\n" + extra + "  tracing:\n  - randomSamplingPercentage: " + percentage
        + "\n";
  }

  private static MeshSnapshot translate(String yaml) {
    MeshYaml.Result r = MeshYaml.load(yaml, "test.yaml");
    assertThat(r.errors()).isEmpty();
    return new MeshTranslator().translate(r.objects());
  }

  private static Double sampling(MeshSnapshot s) {
    return TelemetryTracing.samplingPercentage(s.policies().telemetries(), WAYPOINT, "istio-system");
  }

  @Test
  void theMostSpecificTelemetryThatSetsSamplingWins() throws Exception {
    String mesh = Meshes.exampleYaml();
    assertThat(sampling(translate(mesh))).as("none: the proxy's default applies").isNull();
    String meshWide = telemetry("v1", "istio-system", "mesh-default", "", "1");
    assertThat(sampling(translate(mesh + meshWide))).isEqualTo(1.0);
    String namespace = telemetry("v1alpha1", "production", "ns", "", "25");
    assertThat(sampling(translate(mesh + meshWide + namespace))).as("v1alpha1 reads as v1").isEqualTo(25.0);
    String targeted = telemetry("v1", "production", "for-waypoint",
        "  targetRefs:\n  - kind: Gateway\n    group: gateway.networking.k8s.io\n    name: payment-waypoint\n", "100");
    String otherNamespace = telemetry("v1", "legacy", "elsewhere", "", "0");
    String otherGateway = telemetry("v1", "production", "other-gateway",
        "  targetRefs:\n  - kind: Gateway\n    group: gateway.networking.k8s.io\n    name: other\n", "0");
    MeshSnapshot all = translate(mesh + meshWide + namespace + targeted + otherNamespace + otherGateway);
    assertThat(all.rejections()).isEmpty();
    assertThat(sampling(all)).isEqualTo(100.0);
  }

  @Test
  void anOutOfRangePercentageIsRefusedAndChangesNothing() throws Exception {
    MeshSnapshot s = translate(Meshes.exampleYaml() + telemetry("v1", "istio-system", "typo", "", "150"));
    assertThat(s.rejections()).hasSize(1);
    assertThat(s.rejections().get(0).toString()).isEqualTo("Telemetry istio-system/typo: "
        + "spec.tracing[0].randomSamplingPercentage: 150.0 (expected a percentage from 0 to 100)");
    assertThat(sampling(s)).isNull();
  }

  @Test
  void theWaypointGetsItsTelemetriesOverXds() throws Exception {
    String yaml = Meshes.exampleYaml() + telemetry("v1", "istio-system", "mesh-default", "", "5")
        + telemetry("v1", "production", "ns", "", "50") + telemetry("v1", "legacy", "elsewhere", "", "0");
    MeshSnapshot mesh = translate(yaml);
    assertThat(WaypointScope.meshObjectKeys(mesh, WAYPOINT)).contains("Telemetry/istio-system/mesh-default",
        "Telemetry/production/ns").doesNotContain("Telemetry/legacy/elsewhere");
    MeshSnapshot decoded = new WdsDecoder().decode(new WdsEncoder().encode(mesh), 3);
    assertThat(decoded.policies().telemetries()).containsExactlyInAnyOrderElementsOf(mesh.policies().telemetries());
    assertThat(sampling(decoded)).isEqualTo(50.0);
    assertThat(List.of(decoded.policies().telemetries().get(0).getApiVersion())).containsOnly("telemetry.istio.io/v1");
  }
}
