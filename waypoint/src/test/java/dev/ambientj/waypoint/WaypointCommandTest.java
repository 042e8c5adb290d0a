package dev.ambientj.waypoint;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class WaypointCommandTest {
  @Test
  void helpIsZeroUnknownFlagIsTwo() {
    assertThat(WaypointCommand.run(new String[] {"--help"})).isZero();
    assertThat(WaypointCommand.run(new String[] {"--bogus"})).isEqualTo(2);
    assertThat(WaypointCommand.run(new String[] {"--name"})).as("missing value").isEqualTo(2);
    assertThat(WaypointCommand.run(new String[] {"--name", "x"})).as("missing --config/--namespace").isEqualTo(2);
    assertThat(WaypointCommand.run(new String[] {"--config", "/nonexistent.yaml", "--name", "x", "--namespace", "y"}))
        .isEqualTo(2);
    assertThat(WaypointCommand.run(new String[] {"--kubernetes", "--xds", "127.0.0.1:15010", "--name", "x",
        "--namespace", "y"})).as("two sources").isEqualTo(2);
  }
}
