package dev.ambientj.cni.redirect;

import java.io.IOException;
import java.util.List;

/** Runs a command inside a network namespace. A seam so that rule logic is tested without root. */
public interface CommandRunner {
  /** The program {@link #nsenter()} runs every command through (the image must provide it). */
  String NSENTER = "nsenter";

  /** The outcome of one command. */
  record Result(int exitCode, String stdout, String stderr) {
    public boolean ok() {
      return exitCode == 0;
    }
  }

  /**
   * Runs {@code argv} inside the network namespace at {@code netns} (a path such as {@code
   * /var/run/netns/x} or {@code /proc/<pid>/ns/net}), writing {@code stdin} (may be null) to it.
   */
  Result run(String netns, List<String> argv, String stdin) throws IOException;

  /** The real runner: {@code nsenter --net=<netns> argv…}. */
  static CommandRunner nsenter() {
    return new NsenterRunner();
  }
}
