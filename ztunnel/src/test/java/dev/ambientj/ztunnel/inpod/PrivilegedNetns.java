package dev.ambientj.ztunnel.inpod;

import dev.ambientj.testing.Privileged;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Network namespaces for tests: the gate ({@link Privileged}) and create/run/delete.
 */
public final class PrivilegedNetns implements AutoCloseable {
  private final String name;

  private PrivilegedNetns(String name) {
    this.name = name;
  }

  /** Skips unless root with {@code ip} (fails instead in CI): {@link Privileged#require}. */
  public static void require() {
    Privileged.require("ip");
  }

  /** Creates {@code ip netns add <prefix>-<pid>-<n>} with loopback up. */
  public static PrivilegedNetns create(String prefix) throws Exception {
    String name = prefix + "-" + ProcessHandle.current().pid() + "-" + System.nanoTime() % 100000;
    run("ip", "netns", "add", name);
    PrivilegedNetns n = new PrivilegedNetns(name);
    n.exec("ip", "link", "set", "lo", "up");
    return n;
  }

  public String name() {
    return name;
  }

  public Path path() {
    return Path.of("/var/run/netns", name);
  }

  /** Runs a command inside the namespace; returns its stdout; throws on a non-zero exit. */
  public String exec(String... cmd) throws Exception {
    List<String> all = new ArrayList<>(List.of("ip", "netns", "exec", name));
    all.addAll(List.of(cmd));
    return run(all.toArray(String[]::new));
  }

  public static String run(String... cmd) throws Exception {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(30, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IOException(String.join(" ", cmd) + ": timed out");
    }
    if (p.exitValue() != 0) {
      throw new IOException(String.join(" ", cmd) + " exited " + p.exitValue() + ": " + out);
    }
    return out;
  }

  @Override
  public void close() throws Exception {
    run("ip", "netns", "del", name);
  }
}
