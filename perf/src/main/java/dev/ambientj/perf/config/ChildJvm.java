package dev.ambientj.perf.config;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * A process of the bench's own class path (another main of {@code benchmarks.jar}), its output
 * read line by line, so that its CPU time and RSS are its own and it can be stopped and started.
 */
final class ChildJvm implements AutoCloseable {
  private static final long TICKS_PER_SECOND = 100; // USER_HZ on Linux

  final Process process;
  private final List<String> tail = new ArrayList<>();
  private final String ready;
  private final CountDownLatch readySeen = new CountDownLatch(1);

  /**
   * Starts {@code mainClass} with {@code args}; {@code ready} is a text whose appearance in the
   * output {@link #awaitReady} waits for; every line is also handed to {@code onLine}.
   */
  ChildJvm(List<String> jvmFlags, String mainClass, List<String> args, String ready,
      Consumer<String> onLine) throws IOException {
    this.ready = ready;
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(jvmFlags);
    cmd.add("--enable-native-access=ALL-UNNAMED");
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(mainClass);
    cmd.addAll(args);
    process = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    Runtime.getRuntime().addShutdownHook(new Thread(process::destroy, "stop-child"));
    Thread.ofPlatform().daemon().name("child-" + process.pid()).start(() -> read(onLine));
  }

  private void read(Consumer<String> onLine) {
    try (BufferedReader in = new BufferedReader(
        new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = in.readLine()) != null) {
        onLine.accept(line);
        if (line.contains(ready)) {
          readySeen.countDown();
        }
        synchronized (tail) {
          tail.add(line);
          if (tail.size() > 40) {
            tail.removeFirst();
          }
        }
      }
    } catch (IOException e) {
      // the process is gone
    }
  }

  /** Waits for the ready text; throws with the output's tail when it does not come in time. */
  void awaitReady(long seconds) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (!readySeen.await(200, TimeUnit.MILLISECONDS)) {
      if (!process.isAlive() || System.nanoTime() > deadline) {
        Thread.sleep(200); // the last lines
        throw new IllegalStateException((process.isAlive() ? "no \"" + ready + "\" after "
            + seconds + " s" : "exited with " + process.exitValue() + " before \"" + ready
            + "\"") + ":\n" + String.join("\n", tail()));
      }
    }
  }

  List<String> tail() {
    synchronized (tail) {
      return List.copyOf(tail);
    }
  }

  /** User plus system CPU time so far, in seconds (from /proc). */
  double cpuSeconds() throws IOException {
    String stat = Files.readString(Path.of("/proc", Long.toString(process.pid()), "stat"));
    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
    return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / (double) TICKS_PER_SECOND;
  }

  /** Resident set size now, in MiB (VmRSS). */
  double rssMib() throws IOException {
    for (String l : Files.readAllLines(Path.of("/proc", Long.toString(process.pid()), "status"))) {
      if (l.startsWith("VmRSS:")) {
        return Long.parseLong(l.replaceAll("\\D", "")) / 1024.0;
      }
    }
    return 0;
  }

  @Override
  public void close() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(20, TimeUnit.SECONDS)) {
      process.destroyForcibly().waitFor();
    }
  }
}
