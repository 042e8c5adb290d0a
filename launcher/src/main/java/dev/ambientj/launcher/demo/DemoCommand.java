package dev.ambientj.launcher.demo;

/** Entry point of `./mesh demo`. */
public final class DemoCommand {
  private DemoCommand() {}

  /** Runs the subcommand; returns the process exit code. */
  public static int run(String[] args) {
    System.err.println("mesh demo: not available yet");
    return 3;
  }
}
