package dev.ambientj.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/** Counts this process's open file descriptors (/proc/self/fd) to catch socket leaks. */
final class OpenFiles {
  private OpenFiles() {}

  /** Slack for descriptors the JVM opens lazily (jar files, native libraries, epoll instances). */
  static final int SLACK = 8;

  static int count() {
    try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
      return (int) fds.count();
    } catch (IOException e) {
      return -1;
    }
  }

  /** Polls until the count is at most {@code baseline + SLACK}; returns the last count. */
  static int awaitBaseline(int baseline, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    int now = count();
    while (now > baseline + SLACK && System.nanoTime() < deadline) {
      System.gc();
      TimeUnit.MILLISECONDS.sleep(100);
      now = count();
    }
    return now;
  }
}
