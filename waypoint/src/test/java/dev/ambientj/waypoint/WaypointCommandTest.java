package dev.ambientj.waypoint;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
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

  @Test
  void limitFlagsAreCheckedAndDurationsRead() {
    assertThat(WaypointCommand.run(new String[] {"--max-connections", "0"})).isEqualTo(2);
    assertThat(WaypointCommand.run(new String[] {"--idle-timeout", "soon"})).isEqualTo(2);
    assertThat(WaypointCommand.run(new String[] {"--stream-buffer-bytes", "1000"})).as("below 64 KiB").isEqualTo(2);
    assertThat(WaypointCommand.run(new String[] {"--worker-threads", "x"})).isEqualTo(2);
  }

  @Test
  void durationsInBothFormsReachTheFlags() {
    WaypointCommand command = new WaypointCommand();
    new picocli.CommandLine(command).parseArgs("--idle-timeout=0", "--request-headers-timeout", "250ms",
        "--upstream-connect-timeout=1h30m", "-n", "ns", "--name=wp");
    assertThat(command.limits.idleTimeout).isZero();
    assertThat(command.limits.requestHeadersTimeout).isEqualTo(Duration.ofMillis(250));
    assertThat(command.limits.upstreamConnectTimeout).isEqualTo(Duration.ofMinutes(90));
    assertThat(command.identity.namespace).isEqualTo("ns");
    assertThat(command.identity.name).isEqualTo("wp");
  }
}
