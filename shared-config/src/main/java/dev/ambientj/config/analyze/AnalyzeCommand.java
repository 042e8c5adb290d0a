package dev.ambientj.config.analyze;

/** Entry point of `./mesh analyze`. */
public final class AnalyzeCommand {
  private AnalyzeCommand() {}

  /** Runs the subcommand; returns the process exit code. */
  public static int run(String[] args) {
    System.err.println("mesh analyze: not available yet");
    return 3;
  }
}
