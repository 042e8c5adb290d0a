package dev.ambientj.ztunnel.telemetry;

import java.io.PrintStream;

/** Where access-log lines go: one JSON object per line, no trailing newline in {@code line}. */
@FunctionalInterface
public interface AccessLogSink {

  /** Called once per finished connection, on an event loop: must not block for long. */
  void accept(String line);

  /** Lines to standard output (ztunnel's default: the container log). */
  static AccessLogSink stdout() {
    return to(System.out);
  }

  static AccessLogSink to(PrintStream out) {
    return out::println;
  }

  /** Drops every line. */
  static AccessLogSink discard() {
    return line -> {};
  }
}
