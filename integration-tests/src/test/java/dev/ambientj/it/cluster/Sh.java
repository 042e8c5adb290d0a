package dev.ambientj.it.cluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Runs the short commands the harness needs (ip, iptables, nsenter, kubectl): bounded in time. */
final class Sh {
  private Sh() {}

  /** What a command left behind. */
  record Result(int exit, String out, String err) {
    boolean ok() {
      return exit == 0;
    }
  }

  /** Runs {@code cmd}; a non-zero exit is an {@link IOException} carrying its output. */
  static String run(String... cmd) throws IOException {
    Result r = exec(List.of(cmd), Map.of(), null);
    if (!r.ok()) {
      throw new IOException(String.join(" ", cmd) + " exited " + r.exit() + ": " + r.out() + r.err());
    }
    return r.out();
  }

  /** Runs {@code cmd} in the network namespace {@code netns} (a name under /run/netns). */
  static String inNetns(String netns, String... cmd) throws IOException {
    String[] all = new String[cmd.length + 2];
    all[0] = "nsenter";
    all[1] = "--net=/run/netns/" + netns;
    System.arraycopy(cmd, 0, all, 2, cmd.length);
    return run(all);
  }

  /**
   * Runs {@code cmd} with {@code env} added and {@code stdin} (may be null) written to it; waits up
   * to 60 s.
   */
  static Result exec(List<String> cmd, Map<String, String> env, String stdin) throws IOException {
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().putAll(env);
    Process p = pb.start();
    CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> {
      try {
        return new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
      } catch (IOException e) {
        return "";
      }
    }, r -> Thread.ofVirtual().start(r));
    try (var in = p.getOutputStream()) {
      if (stdin != null) {
        in.write(stdin.getBytes(StandardCharsets.UTF_8));
      }
    }
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    try {
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IOException(String.join(" ", cmd) + ": no exit within 60 s");
      }
      return new Result(p.exitValue(), out, err.get(5, TimeUnit.SECONDS));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      p.destroyForcibly();
      throw new IOException(String.join(" ", cmd) + ": interrupted", e);
    } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
      return new Result(p.exitValue(), out, "");
    }
  }
}
