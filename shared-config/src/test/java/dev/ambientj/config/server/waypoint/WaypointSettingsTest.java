package dev.ambientj.config.server.waypoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambientj.config.server.ConfigServerCommand;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WaypointSettingsTest {

  @Test
  void readsTheEnvironmentTheManifestsSet() {
    WaypointSettings s =
        WaypointSettings.fromEnv(
            Map.of("AMBIENTJ_WAYPOINT_IMAGE", "r/ambientj:1", "AMBIENTJ_XDS_ADDRESS", "cfg:15010"));
    assertThat(s).isEqualTo(new WaypointSettings("r/ambientj:1", "cfg:15010"));
  }

  @Test
  void aMissingVariableIsNamed() {
    assertThatThrownBy(() -> WaypointSettings.fromEnv(Map.of("AMBIENTJ_WAYPOINT_IMAGE", "x")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("AMBIENTJ_XDS_ADDRESS");
  }

  @Test
  void configServerRefusesToStartTheControllerWithoutItsEnvironment(@TempDir Path tmp) throws Exception {
    Assumptions.assumeTrue(
        System.getenv(WaypointSettings.IMAGE_ENV) == null || System.getenv(WaypointSettings.XDS_ENV) == null,
        "the AMBIENTJ_* variables are set in this environment");
    Path mesh = tmp.resolve("mesh.yaml");
    Files.writeString(mesh, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: default\n");
    int exit =
        ConfigServerCommand.run(
            new String[] {
              "--config", mesh.toString(), "--state-dir", tmp.resolve("state").toString(),
              "--listen", "127.0.0.1:0", "--waypoint-controller"
            });
    assertThat(exit).isEqualTo(1);
  }
}
