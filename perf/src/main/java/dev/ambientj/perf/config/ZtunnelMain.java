package dev.ambientj.perf.config;

import dev.ambientj.ztunnel.ZtunnelCommand;

/** {@code mesh ztunnel} as a main of {@code benchmarks.jar}, for the benches' child processes. */
public final class ZtunnelMain {
  private ZtunnelMain() {}

  public static void main(String[] args) {
    System.exit(ZtunnelCommand.run(args));
  }
}
