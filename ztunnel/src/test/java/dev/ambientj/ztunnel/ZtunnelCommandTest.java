package dev.ambientj.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.GracefulShutdown;
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
    assertThat(ZtunnelCommand.run(new String[] {"--kubernetes", "--xds", "127.0.0.1:15010",
        "--node", "a"})).as("two config sources").isEqualTo(2);
    assertThat(ZtunnelCommand.run(new String[] {"--kubernetes", "--config", "/x.yaml",
        "--node", "a"})).as("two config sources").isEqualTo(2);
  }

  @Test
  void caFlagsGoTogetherAndTheTokenMustBeReadable(@org.junit.jupiter.api.io.TempDir
      java.nio.file.Path dir) throws Exception {
    java.nio.file.Path config = java.nio.file.Files.writeString(dir.resolve("mesh.yaml"), "");
    String c = config.toString();
    assertThat(ZtunnelCommand.run(new String[] {"--config", c, "--node", "a", "--ca-address",
        "127.0.0.1:15010"})).as("no token file").isEqualTo(2);
    assertThat(ZtunnelCommand.run(new String[] {"--config", c, "--node", "a", "--ca-address",
        "127.0.0.1:15010", "--ca-token-file", dir.resolve("missing.token").toString()}))
        .as("unreadable token").isEqualTo(2);
  }

  @Test
  void limitFlagsAreCheckedAndNamed(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    String c = java.nio.file.Files.writeString(dir.resolve("mesh.yaml"), "").toString();
    assertThat(ZtunnelCommand.run(new String[] {"--config", c, "--node", "a",
        "--max-connections", "0"})).isEqualTo(2);
    assertThat(ZtunnelCommand.run(new String[] {"--config", c, "--node", "a",
        "--max-listener-handshakes", "many"})).isEqualTo(2);
    assertThat(ZtunnelCommand.run(new String[] {"--config", c, "--node", "a",
        "--socks5-handshake-timeout", "-1s"})).isEqualTo(2);
  }

  @Test
  void limitFlagsReachTheLimitsInBothForms() {
    ZtunnelCommand command = new ZtunnelCommand();
    new picocli.CommandLine(command).parseArgs("--max-connections=5000", "--connect-timeout", "500ms",
        "--socks5-handshake-timeout=1m30s", "--hbone-reset-limit", "7", "--cert-ttl=30m");
    var limits = command.limits.proxyLimits();
    assertThat(limits.maxConnections()).isEqualTo(5000);
    assertThat(limits.connectTimeout()).isEqualTo(java.time.Duration.ofMillis(500));
    assertThat(limits.socks5HandshakeTimeout()).isEqualTo(java.time.Duration.ofSeconds(90));
    assertThat(command.limits.hbone().prematureResetLimit()).isEqualTo(7);
    assertThat(command.node.certTtl).isEqualTo(java.time.Duration.ofMinutes(30));
    ZtunnelCommand defaults = new ZtunnelCommand();
    new picocli.CommandLine(defaults).parseArgs();
    var derived = dev.ambientj.ztunnel.proxy.ProxyLimits.derive(dev.ambientj.hbone.transport.Descriptors.limit());
    assertThat(defaults.limits.proxyLimits()).isEqualTo(derived);
    assertThat(ZtunnelCommand.commandLine().getUsageMessage())
        .as("--help shows the defaults derived from the open-file limit")
        .contains("(default " + derived.maxConnections() + ")")
        .contains("(default " + derived.listenerMaxHandshakes() + ")");
  }

  @Test
  void fairnessFlagsTurnTheBudgetsOffOrSetThem() {
    var derived = dev.ambientj.ztunnel.proxy.ProxyLimits.derive(dev.ambientj.hbone.transport.Descriptors.limit());
    ZtunnelCommand off = new ZtunnelCommand();
    parse(off, "--fairness", "off");
    assertThat(off.fairness.apply(derived).workloadBudget()).as("--fairness off").isNull();
    ZtunnelCommand on = new ZtunnelCommand();
    parse(on, "--fairness=ON", "--workload-max-connections", "16",
        "--workload-max-connection-rate=200");
    var budget = on.fairness.apply(derived).workloadBudget();
    assertThat(budget.maxConnections()).isEqualTo(16);
    assertThat(budget.maxConnectionRate()).isEqualTo(200);
    assertThat(budget.maxStreams()).isEqualTo(derived.workloadBudget().maxStreams());
    ZtunnelCommand none = new ZtunnelCommand();
    parse(none);
    assertThat(none.fairness.apply(derived).workloadBudget()).as("on by default")
        .isEqualTo(derived.workloadBudget());
    assertThat(ZtunnelCommand.run(new String[] {"--node", "a", "--fairness", "maybe"})).isEqualTo(2);
  }

  /** Parses with the command line every subcommand gets (case-insensitive enum values). */
  private static void parse(ZtunnelCommand command, String... args) {
    dev.ambientj.config.cli.MeshCommandLine.create(command, "ztunnel").parseArgs(args);
  }

  @Test
  void theDrainDeadlineIsTheTerminationGracePeriodLessFiveSeconds() {
    java.time.Duration FALLBACK = java.time.Duration.ofSeconds(5);
    assertThat(GracefulShutdown.drainDeadline("30", FALLBACK)).isEqualTo(java.time.Duration.ofSeconds(25));
    assertThat(GracefulShutdown.drainDeadline(" 6 ", FALLBACK)).isEqualTo(java.time.Duration.ofSeconds(1));
    assertThat(GracefulShutdown.drainDeadline("4", FALLBACK)).as("half of a short grace period")
        .isEqualTo(java.time.Duration.ofSeconds(2));
    assertThat(GracefulShutdown.drainDeadline(null, FALLBACK)).as("unset: the default stays").isEqualTo(FALLBACK);
    assertThat(GracefulShutdown.drainDeadline("thirty", FALLBACK)).as("unparsable: reported, ignored").isEqualTo(FALLBACK);
    assertThat(GracefulShutdown.drainDeadline("0", FALLBACK)).isEqualTo(FALLBACK);
  }
}
