package dev.ambientj.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * One {@code ./mesh SUBCOMMAND …} as its own process, as the launcher runs it: this build's
 * classes, the launcher's main, a JDK 25, its output (log and access log) in a file. Stopped the
 * way a kubelet stops a container: {@link #terminate()} is SIGTERM, {@link #kill()} SIGKILL.
 */
final class MeshProcess implements AutoCloseable {
  private final String name;
  private final Process process;
  private final Path log;

  private MeshProcess(String name, Process process, Path log) {
    this.name = name;
    this.process = process;
    this.log = log;
  }

  /** Starts {@code ./mesh args…} with {@code env} added; output goes to {@code log}. */
  static MeshProcess start(String name, Path log, Map<String, String> env, String... args)
      throws IOException {
    Files.createDirectories(log.getParent());
    List<String> cmd = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-Xmx128m",
        "-XX:TieredStopAtLevel=1",
        "-cp", System.getProperty("java.class.path"), "dev.ambientj.launcher.Main"));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    pb.environment().putAll(env);
    return new MeshProcess(name, pb.start(), log);
  }

  String name() {
    return name;
  }

  long pid() {
    return process.pid();
  }

  boolean alive() {
    return process.isAlive();
  }

  /** SIGTERM, as the kubelet sends first. */
  void terminate() {
    process.destroy();
  }

  /** SIGKILL. */
  void kill() {
    process.destroyForcibly();
  }

  /** Waits for the process to exit; its exit code, or null if it is still running. */
  Integer awaitExit(Duration timeout) throws InterruptedException {
    return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS) ? process.exitValue() : null;
  }

  /** Waits until a line of the output passes {@code test}; false at the timeout or on exit. */
  boolean awaitLine(Predicate<String> test, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (lines().stream().anyMatch(test)) {
        return true;
      }
      if (!process.isAlive()) {
        return lines().stream().anyMatch(test);
      }
      TimeUnit.MILLISECONDS.sleep(50);
    }
    return false;
  }

  List<String> lines() {
    try {
      return Files.readAllLines(log);
    } catch (IOException e) {
      return List.of();
    }
  }

  String log() {
    return String.join("\n", lines());
  }

  /** Copies the {@code *.log} files of {@code dir} to {@code target/<test class>-logs}. */
  static void keepLogs(Path dir, Class<?> test) throws IOException {
    Path logs = Path.of("target", test.getSimpleName() + "-logs");
    Files.createDirectories(logs);
    try (var files = Files.list(dir)) {
      for (Path f : (Iterable<Path>) files.filter(f -> f.toString().endsWith(".log"))::iterator) {
        Files.copy(f, logs.resolve(f.getFileName()),
            java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      }
    }
  }

  @Override
  public void close() throws InterruptedException {
    if (process.isAlive()) {
      process.destroy();
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    }
  }

  @Override
  public String toString() {
    return name + " (pid " + process.pid() + ")";
  }
}
