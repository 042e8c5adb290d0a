package dev.ambientj.config;

import java.nio.file.Files;
import java.nio.file.Path;

/** Finds the repository root (the folder holding examples/) from the working directory. */
final class Repo {
  private Repo() {}

  static Path root() {
    Path dir = Path.of("").toAbsolutePath();
    while (dir != null) {
      if (Files.isDirectory(dir.resolve("examples")) && Files.exists(dir.resolve("pom.xml"))) {
        return dir;
      }
      dir = dir.getParent();
    }
    throw new IllegalStateException("no examples/ folder above " + Path.of("").toAbsolutePath());
  }

  static Path examples() {
    return root().resolve("examples");
  }

  /** ../shared/seed-examples beside the repository. */
  static Path seedExamples() {
    return root().getParent().resolve("shared").resolve("seed-examples");
  }
}
