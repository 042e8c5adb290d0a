package dev.ambientj.launcher.inspect;

import java.util.function.Function;
import picocli.CommandLine;

/**
 * The command line of an operator's tool: named {@code mesh <name>} in its usage, enum values in
 * any case, and an error while it runs printed as one line {@code mesh <name>: <problem>} with exit
 * code 1 (usage errors stay picocli's: exit 2 with a suggestion).
 */
final class ToolCommandLine {
  private ToolCommandLine() {}

  /** {@code describe} turns the error into the operator's line (the message, by default). */
  static CommandLine create(Object command, String name, Function<Exception, String> describe) {
    CommandLine cl = new CommandLine(command).setCommandName("mesh " + name);
    cl.setCaseInsensitiveEnumValuesAllowed(true);
    cl.setExecutionExceptionHandler((e, line, parsed) -> {
      line.getErr().println("mesh " + name + ": " + describe.apply(e));
      return 1;
    });
    return cl;
  }

  static String message(Exception e) {
    return e.getMessage() == null ? e.toString() : e.getMessage();
  }
}
