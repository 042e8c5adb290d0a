package dev.ambientj.ztunnel.telemetry;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** Keeps access-log lines in memory (tests, the demo). */
public final class InMemoryAccessLogSink implements AccessLogSink {
  private final List<String> lines = new CopyOnWriteArrayList<>();

  @Override
  public void accept(String line) {
    lines.add(line);
  }

  /** A snapshot of the lines logged so far, oldest first. */
  public List<String> lines() {
    return List.copyOf(lines);
  }

  public void clear() {
    lines.clear();
  }
}
