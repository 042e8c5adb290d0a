package dev.ambientj.config.server;

/** Entry point of `./mesh config-server`. */
public final class ConfigServerCommand {
  private ConfigServerCommand() {}

  /** Runs the subcommand; returns the process exit code. */
  public static int run(String[] args) {
    System.err.println("mesh config-server: not available yet");
    return 3;
  }
}
