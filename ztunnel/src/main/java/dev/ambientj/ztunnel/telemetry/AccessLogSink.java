package dev.ambientj.ztunnel.telemetry;

import java.io.PrintStream;

/** Where access-log lines go: one JSON object per line, no trailing newline in {@code line}. */
@FunctionalInterface
public interface AccessLogSink {

  /** Called once per finished connection, on an event loop: must not block for long. */
  void accept(String line);

  /**
   * Lines to standard output (ztunnel's default: the container log), written in batches by one
   * thread so that the event loops never wait for the log; at most 65,536 lines wait, more are
   * dropped (see {@link BatchingLineWriter}). One writer serves every caller.
   */
  static AccessLogSink stdout() {
    return BatchingLineWriter.stdout();
  }

  static AccessLogSink to(PrintStream out) {
    return out::println;
  }

  /** Drops every line. */
  static AccessLogSink discard() {
    return line -> {};
  }
}
