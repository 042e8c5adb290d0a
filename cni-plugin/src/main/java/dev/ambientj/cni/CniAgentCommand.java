package dev.ambientj.cni;

/** Entry point of `./mesh cni-agent`. */
public final class CniAgentCommand {
  private CniAgentCommand() {}

  /** Runs the subcommand; returns the process exit code. */
  public static int run(String[] args) {
    System.err.println("mesh cni-agent: not available yet");
    return 3;
  }
}
