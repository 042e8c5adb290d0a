package dev.ambientj.cni.redirect;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * The gate of tests that need root and network tools: skipped with the reason printed, except
 * where {@code AMBIENTJ_REQUIRE_PRIVILEGED_TESTS=true} (CI as root), where a missing privilege or
 * tool fails the test instead.
 */
public final class Privileged {
  private Privileged() {}

  public static void require(String... tools) {
    List<String> reasons = new ArrayList<>();
    if (!isRoot()) {
      reasons.add("not running as root");
    }
    for (String tool : tools) {
      if (!onPath(tool)) {
        reasons.add("'" + tool + "' not found on PATH");
      }
    }
    if (reasons.isEmpty()) {
      return;
    }
    String reason = "privileged netns test: " + String.join(", ", reasons);
    if ("true".equals(System.getenv("AMBIENTJ_REQUIRE_PRIVILEGED_TESTS"))) {
      Assertions.fail(reason + " (AMBIENTJ_REQUIRE_PRIVILEGED_TESTS=true: must not be skipped)");
    }
    System.out.println("SKIPPED " + reason);
    Assumptions.abort(reason);
  }

  static boolean isRoot() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("Uid:")) {
          return line.split("\\s+")[2].equals("0"); // effective uid
        }
      }
    } catch (IOException e) {
      return false;
    }
    return false;
  }

  static boolean onPath(String tool) {
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
