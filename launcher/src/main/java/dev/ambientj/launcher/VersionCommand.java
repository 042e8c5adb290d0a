package dev.ambientj.launcher;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ambientj.config.cli.MeshVersion;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code mesh version [-o short|json]}: what {@code mesh --version} prints, or the same as one
 * JSON object ({@code version}, {@code commit}, {@code jdk}, {@code jdkVendor}) for scripts.
 */
@Command(name = "version", mixinStandardHelpOptions = true, versionProvider = MeshVersion.class)
final class VersionCommand implements Callable<Integer> {
  enum Format { SHORT, JSON }

  @Spec CommandSpec spec;

  @Option(names = {"-o", "--output"}, paramLabel = "FORMAT",
      description = "short (default) or json")
  Format format = Format.SHORT;

  @Override
  public Integer call() throws JsonProcessingException {
    var out = spec.commandLine().getOut();
    if (format == Format.JSON) {
      out.println(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(MeshVersion.fields()));
    } else {
      for (String line : new MeshVersion().getVersion()) {
        out.println(line);
      }
    }
    out.flush();
    return 0;
  }
}
