package dev.ambientj.ztunnel;

/** Entry point of `./mesh ztunnel`. */
public final class ZtunnelCommand {
  private ZtunnelCommand() {}

  /** Runs the subcommand; returns the process exit code. */
  public static int run(String[] args) {
    System.err.println("mesh ztunnel: not available yet");
    return 3;
  }
}
