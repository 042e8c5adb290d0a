package dev.ambientj.launcher.demo;

import dev.ambientj.ztunnel.telemetry.AccessLogSink;
import java.io.PrintStream;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** One node's access log in the demo: kept for the checks, echoed live once the mesh is handed over. */
final class DemoAccessLog implements AccessLogSink {
  private final String node;
  private final List<String> lines = new CopyOnWriteArrayList<>();
  private volatile PrintStream live;

  DemoAccessLog(String node) {
    this.node = node;
  }

  @Override
  public void accept(String line) {
    lines.add(line);
    PrintStream out = live;
    if (out != null) {
      out.println("[" + node + " access] " + line);
      out.flush();
    }
  }

  void echoTo(PrintStream out) {
    this.live = out;
  }

  int size() {
    return lines.size();
  }

  /** The first line after index {@code from} that matches, waiting up to {@code millis}. */
  Optional<String> await(int from, Predicate<String> match, long millis) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
    do {
      for (int i = from; i < lines.size(); i++) {
        if (match.test(lines.get(i))) {
          return Optional.of(lines.get(i));
        }
      }
      TimeUnit.MILLISECONDS.sleep(10);
    } while (System.nanoTime() < deadline);
    return Optional.empty();
  }

  /** A string field of a JSON access-log line, or null. */
  static String field(String line, String name) {
    Matcher m = Pattern.compile("\"" + Pattern.quote(name) + "\":(\"((?:[^\"\\\\]|\\\\.)*)\"|(\\d+))")
        .matcher(line);
    if (!m.find()) {
      return null;
    }
    return m.group(2) != null ? m.group(2) : m.group(3);
  }
}
