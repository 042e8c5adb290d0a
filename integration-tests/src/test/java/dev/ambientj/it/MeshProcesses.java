package dev.ambientj.it;

import dev.ambientj.launcher.Main;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * {@code mesh SUBCOMMAND ...} run as its own process on this build's classpath (the launcher's
 * logging configuration included), its output in a log file; {@link #close} stops them all
 * (SIGTERM, then SIGKILL after 15 s).
 */
final class MeshProcesses implements AutoCloseable {
  private final List<Process> processes = new ArrayList<>();

  /** Starts {@code mesh args...} with {@code env} added to this JVM's environment. */
  Process start(Path log, Map<String, String> env, String... args) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
        "-Xmx256m", "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
        Main.class.getName()));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().putAll(env);
    pb.environment().remove("KUBERNETES_SERVICE_HOST");
    Process p = pb.start();
    processes.add(p);
    return p;
  }

  /** The log so far ("" before it exists). */
  static String text(Path log) {
    try {
      return Files.readString(log, StandardCharsets.ISO_8859_1);
    } catch (IOException e) {
      return "";
    }
  }

  /** Waits until {@code condition}; fails with the log when {@code p} exits or {@code bound} passes. */
  static void eventually(Duration bound, String what, Process p, Path log, BooleanSupplier condition)
      throws InterruptedException {
    long deadline = System.nanoTime() + bound.toNanos();
    while (!condition.getAsBoolean()) {
      if (!p.isAlive()) {
        throw new AssertionError("exited (" + p.exitValue() + ") before: " + what + "\n" + text(log));
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError("not within " + bound.toSeconds() + " s: " + what + "\n" + text(log));
      }
      Thread.sleep(100);
    }
  }

  @Override
  public void close() throws InterruptedException {
    for (Process p : processes) {
      p.destroy();
      if (!p.waitFor(15, TimeUnit.SECONDS)) {
        p.destroyForcibly();
      }
    }
    processes.clear();
  }
}
