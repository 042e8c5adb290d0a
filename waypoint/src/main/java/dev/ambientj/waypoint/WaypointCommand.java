package dev.ambientj.waypoint;

/** Entry point of `./mesh waypoint`. */
public final class WaypointCommand {
  private WaypointCommand() {}

  /** Runs the subcommand; returns the process exit code. */
  public static int run(String[] args) {
    System.err.println("mesh waypoint: not available yet");
    return 3;
  }
}
