package dev.ambientj.launcher;

import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code mesh help [SUBCOMMAND...]}: the help of {@code mesh}, or of {@code mesh SUBCOMMAND...}
 * (e.g. {@code mesh help waypoint apply}), on stdout. Unlike picocli's own, an unknown flag or
 * subcommand is a usage error (exit 2), as for every other subcommand.
 */
@Command(name = "help", mixinStandardHelpOptions = true)
final class HelpCommand implements Runnable {
  @Spec CommandSpec spec;

  @Parameters(paramLabel = "SUBCOMMAND", arity = "0..*", description = "whose help to print")
  List<String> words = new ArrayList<>();

  @Override
  public void run() {
    CommandLine target = spec.parent().commandLine();
    for (String word : words) {
      CommandLine next = target.getSubcommands().get(word);
      if (next == null) {
        throw new ParameterException(spec.commandLine(), "unknown subcommand '" + word + "' of "
            + target.getCommandSpec().qualifiedName());
      }
      target = next;
    }
    target.usage(spec.commandLine().getOut());
  }
}
