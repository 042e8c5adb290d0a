package dev.ambientj.it.netns;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The machine as a test sees it: commands, network namespaces, and an undo list run in reverse
 * order on {@link #close()} — every namespace, link and process a test creates is registered here
 * the moment it exists, so a failing test still leaves nothing behind.
 */
final class Host implements AutoCloseable {
  private final Deque<Undo> undo = new ArrayDeque<>();

  interface Undo {
    void run() throws Exception;
  }

  void onClose(Undo u) {
    undo.push(u);
  }

  /** {@code ip netns add name} (loopback up), deleted on close. */
  String netns(String name) throws Exception {
    run("ip", "netns", "add", name);
    onClose(() -> run("ip", "netns", "del", name));
    exec(name, "ip", "link", "set", "lo", "up");
    return name;
  }

  /** Runs {@code cmd} inside namespace {@code ns}. */
  String exec(String ns, String... cmd) throws Exception {
    List<String> all = new ArrayList<>(List.of("ip", "netns", "exec", ns));
    all.addAll(List.of(cmd));
    return run(all.toArray(String[]::new));
  }

  static String run(String... cmd) throws Exception {
    Result r = run(List.of(cmd), Map.of(), null);
    if (r.exit() != 0) {
      throw new IOException(String.join(" ", cmd) + " exited " + r.exit() + ": " + r.out() + r.err());
    }
    return r.out();
  }

  record Result(int exit, String out, String err) {}

  /** Runs a command with extra environment and stdin; waits up to 60 s. */
  static Result run(List<String> cmd, Map<String, String> env, String stdin) throws Exception {
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().putAll(env);
    Process p = pb.start();
    if (stdin != null) {
      p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
    }
    p.getOutputStream().close();
    var err = new java.util.concurrent.CompletableFuture<String>();
    Thread.ofVirtual().start(() -> {
      try {
        err.complete(new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
      } catch (IOException e) {
        err.complete("");
      }
    });
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IOException(String.join(" ", cmd) + ": timed out");
    }
    return new Result(p.exitValue(), out, err.get(5, TimeUnit.SECONDS));
  }

  /** Starts a long-running process (killed on close, by its own handle). */
  Process start(String... cmd) throws IOException {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    onClose(() -> {
      p.descendants().forEach(ProcessHandle::destroy);
      p.destroy();
      p.waitFor(5, TimeUnit.SECONDS);
    });
    return p;
  }

  @Override
  public void close() {
    List<String> failures = new ArrayList<>();
    while (!undo.isEmpty()) {
      try {
        undo.pop().run();
      } catch (Exception e) {
        failures.add(e.getMessage());
      }
    }
    if (!failures.isEmpty()) {
      System.err.println("cleanup problems: " + failures);
    }
  }
}
