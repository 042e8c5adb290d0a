package dev.ambientj.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ZtunnelCommandTest {

  @Test
  void helpIsZeroAndUsageErrorsAreTwo() {
    assertThat(ZtunnelCommand.run(new String[] {"--help"})).isZero();
    assertThat(ZtunnelCommand.run(new String[] {"--bogus"})).isEqualTo(2);
    assertThat(ZtunnelCommand.run(new String[] {"--node"})).isEqualTo(2);
    assertThat(ZtunnelCommand.run(new String[] {"--node", "node-a"})).as("no --config").isEqualTo(2);
    assertThat(ZtunnelCommand.run(new String[] {"--config", "/nonexistent.yaml", "--node", "a"}))
        .isEqualTo(2);
  }
}
