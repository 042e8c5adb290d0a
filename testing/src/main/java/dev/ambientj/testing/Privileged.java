package dev.ambientj.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * The one gate of tests that need root and network tools (network namespaces, iptables): such a
 * test is skipped with the reason printed, except where {@code
 * AMBIENTJ_REQUIRE_PRIVILEGED_TESTS=true} (CI, as root), where a missing privilege or tool fails
 * it instead — so CI cannot pass by skipping them.
 */
public final class Privileged {
  /** The variable CI sets so that privileged tests fail rather than skip. */
  public static final String REQUIRE_ENV = "AMBIENTJ_REQUIRE_PRIVILEGED_TESTS";

  private Privileged() {}

  /**
   * Returns when running as root with every tool; else skips the calling test (or fails it under
   * {@value #REQUIRE_ENV}). A tool is a command name looked up on {@code PATH} and the sbin/bin
   * folders, or an absolute path to an executable.
   */
  public static void require(String... tools) {
    List<String> reasons = new ArrayList<>();
    if (!isRoot()) {
      reasons.add("not running as root");
    }
    for (String tool : tools) {
      if (!(tool.startsWith("/") ? Files.isExecutable(Path.of(tool)) : onPath(tool))) {
        reasons.add("'" + tool + "' not found");
      }
    }
    if (reasons.isEmpty()) {
      return;
    }
    String reason = "privileged netns test: " + String.join(", ", reasons);
    if ("true".equals(System.getenv(REQUIRE_ENV))) {
      Assertions.fail(reason + " (" + REQUIRE_ENV + "=true: must not be skipped)");
    }
    System.out.println("SKIPPED " + reason);
    Assumptions.abort(reason);
  }

  /** Whether the effective uid is 0. */
  public static boolean isRoot() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("Uid:")) {
          return line.split("\\s+")[2].equals("0"); // real, effective, saved, fs
        }
      }
    } catch (IOException e) {
      return false;
    }
    return false;
  }

  /** Whether {@code tool} is an executable on {@code PATH} or in the usual sbin/bin folders. */
  public static boolean onPath(String tool) {
    String path = System.getenv("PATH");
    List<String> dirs = new ArrayList<>(List.of((path == null ? "" : path).split(":")));
    dirs.addAll(List.of("/usr/sbin", "/sbin", "/usr/bin", "/bin"));
    for (String d : dirs) {
      if (!d.isEmpty() && Files.isExecutable(Path.of(d, tool))) {
        return true;
      }
    }
    return false;
  }
}
