package dev.ambientj.cni.redirect;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * {@code nsenter --net=<path> <argv>}: enters only the network namespace, so iptables and ip see
 * the pod's tables while the binaries and {@code /run/xtables.lock} are the host's.
 */
final class NsenterRunner implements CommandRunner {
  private static final long TIMEOUT_SECONDS = 20;

  @Override
  public Result run(String netns, List<String> argv, String stdin) throws IOException {
    List<String> cmd = new ArrayList<>(argv.size() + 2);
    cmd.add(NSENTER);
    cmd.add("--net=" + netns);
    cmd.addAll(argv);
    Process p = new ProcessBuilder(cmd).start();
    CompletableFuture<String> err = drain(p.getErrorStream());
    CompletableFuture<String> out = drain(p.getInputStream());
    try (OutputStream in = p.getOutputStream()) {
      if (stdin != null) {
        in.write(stdin.getBytes(StandardCharsets.UTF_8));
      }
    }
    try {
      if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IOException(String.join(" ", cmd) + " did not finish within " + TIMEOUT_SECONDS + " s");
      }
      return new Result(p.exitValue(), out.join(), err.join());
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while running " + String.join(" ", cmd), e);
    }
  }

  private static CompletableFuture<String> drain(InputStream s) {
    CompletableFuture<String> f = new CompletableFuture<>();
    Thread.ofVirtual()
        .start(
            () -> {
              try (s) {
                f.complete(new String(s.readAllBytes(), StandardCharsets.UTF_8));
              } catch (IOException e) {
                f.complete("");
              }
            });
    return f;
  }
}
