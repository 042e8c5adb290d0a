package dev.ambientj.cni.install;

import java.nio.file.Path;

/**
 * For {@code src/test/sh/startup-bench.sh}: {@code BenchInstall PAYLOAD_DIR BIN_DIR} installs a
 * payload as the cni-agent does.
 */
public final class BenchInstall {
  private BenchInstall() {}

  public static void main(String[] args) throws Exception {
    System.out.println(PluginPayloadInstaller.of(Path.of(args[0]), PluginPayloadBuilder.EXECUTABLE)
        .install(Path.of(args[1])).version());
  }
}
