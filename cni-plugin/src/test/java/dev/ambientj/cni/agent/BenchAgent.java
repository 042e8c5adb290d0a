package dev.ambientj.cni.agent;

import dev.ambientj.cni.redirect.CommandRunner;
import dev.ambientj.cni.redirect.InpodRedirect;
import java.nio.file.Path;

/**
 * A node agent for {@code src/test/sh/startup-bench.sh}: {@code default/bench-enrolled} is enrolled
 * (rules installed with the real nsenter runner), {@code default/bench-plain} is not.
 */
public final class BenchAgent {
  private BenchAgent() {}

  public static void main(String[] args) throws Exception {
    try (NodeAgent agent =
        NodeAgent.start(
            Path.of(args[0]),
            () -> AgentTestSupport.snapshot("default/bench-enrolled", "default/bench-plain"),
            new InpodRedirect(CommandRunner.nsenter()))) {
      System.out.println("ready");
      System.out.flush();
      Thread.currentThread().join();
    }
  }
}
