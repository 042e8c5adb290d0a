package dev.ambientj.cni;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class CniAgentCommandTest {
  @Test
  void exactlyOneConfigSourceIsRequired() {
    assertThat(CniAgentCommand.run(new String[] {})).as("no source").isEqualTo(2);
    assertThat(CniAgentCommand.run(new String[] {"--kubernetes", "--config", "/x.yaml"}))
        .as("two sources").isEqualTo(2);
    assertThat(CniAgentCommand.run(new String[] {"--state-dir"})).as("no value").isEqualTo(2);
    assertThat(CniAgentCommand.run(new String[] {"--bogus"})).isEqualTo(2);
    assertThat(CniAgentCommand.run(new String[] {"--config", "/x.yaml", "--cni-net-dir", "/etc/cni/net.d"}))
        .as("--cni-net-dir without --cni-bin-dir").isEqualTo(2);
    assertThat(CniAgentCommand.run(new String[] {"--config", "/x.yaml", "--cni-plugin-payload", "/app/cni"}))
        .as("--cni-plugin-payload without the CNI directories").isEqualTo(2);
    assertThat(CniAgentCommand.run(new String[] {"--config", "/x.yaml", "--cni-net-dir", "/n", "--cni-bin-dir",
        "/b", "--cni-plugin-payload", "/app/cni", "--cni-plugin", "/app/cni/ambientj-cni"}))
        .as("a payload and a single executable").isEqualTo(2);
  }
}
