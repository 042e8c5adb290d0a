package dev.ambientj.launcher;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The progress filter {@code ./mesh} runs over Maven's output on a first build
 * (src/main/sh/mesh-build-progress.awk), fed Maven output recorded from real builds: a first build
 * on an empty Maven cache (its "Downloading from" lines, which the filter skips, left out), and one
 * that failed (offline, with an empty cache).
 */
class MeshBuildProgressTest {
  private static final Path FILTER = Path.of("src/main/sh/mesh-build-progress.awk");
  private static final Path FIXTURES = Path.of("src/test/resources/mesh-build");

  private static List<String> progress(Path mavenOutput) throws IOException, InterruptedException {
    long now = System.currentTimeMillis() / 1000;
    Process awk = new ProcessBuilder("awk", "-v", "start=" + now, "-f", FILTER.toString())
        .redirectInput(mavenOutput.toFile()).redirectErrorStream(true).start();
    String out = new String(awk.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(awk.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(awk.exitValue()).as(out).isZero();
    return out.lines().toList();
  }

  @Test
  void aFirstBuildShowsEachModuleAndTheDownloadsAndTheOutcome() throws Exception {
    Path log = FIXTURES.resolve("first-build.log");
    List<String> lines = progress(log);
    long downloaded = Files.readAllLines(log).stream()
        .filter(l -> l.matches("(\\[INFO\\] )?Downloaded from .*")).count();
    assertThat(downloaded).as("the fixture is a first build").isGreaterThan(300);
    assertThat(lines).allMatch(l -> l.matches("mesh: \\[ *\\d+ s\\] .*"), "every line is the filter's");
    assertThat(lines).filteredOn(l -> l.contains("] building "))
        .extracting(l -> l.replaceAll("^mesh: \\[ *\\d+ s\\] ", ""))
        .containsExactly("building [1/8] ambientj", "building [2/8] testing", "building [3/8] shared-config",
            "building [4/8] hbone", "building [5/8] ztunnel", "building [6/8] waypoint",
            "building [7/8] cni-plugin", "building [8/8] launcher");
    assertThat(lines).anyMatch(l -> l.endsWith("] downloaded 100 files (Maven's plugins and ambientj's"
        + " dependencies; the first build only) ..."));
    assertThat(lines).as("the total, when the build moved on").anyMatch(l -> l.endsWith("] downloaded "
        + downloaded + " files"));
    assertThat(lines.getLast()).endsWith("] Maven: BUILD SUCCESS");
  }

  @Test
  void aFailedBuildShowsMavensErrors() throws Exception {
    Path log = FIXTURES.resolve("offline-failure.log");
    List<String> lines = progress(log);
    List<String> errors = Files.readAllLines(log).stream().filter(l -> l.startsWith("[ERROR]")).toList();
    assertThat(errors).isNotEmpty();
    assertThat(lines).as("Maven's errors, as they came, and nothing else").containsExactlyElementsOf(errors);
  }
}
