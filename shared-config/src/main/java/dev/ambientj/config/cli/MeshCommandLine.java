package dev.ambientj.config.cli;

import dev.ambientj.config.model.GoDuration;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.Locale;
import picocli.CommandLine;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * The command line of every {@code ./mesh} subcommand, set up one way: named {@code mesh <name>}
 * in its usage, enum values in any case, {@code --flag=value} and {@code --flag value} alike
 * (picocli's own), a usage error answered with the problem, picocli's "did you mean" suggestion
 * and the usage on stderr and exit code 2 (the synopsis abbreviated to {@code [OPTIONS]}), and an error while the command runs printed as one
 * line {@code mesh <name>: <problem>} with exit code 1.
 *
 * <p>The converters below are the flags' value types, so that a duration or a count is read the
 * same way by every subcommand.
 */
public final class MeshCommandLine {
  private MeshCommandLine() {}

  /**
   * A command whose errors need more than their message to make sense to the operator (an API
   * error, say); the nearest such command, from the failing one up to {@code mesh}, describes it.
   */
  public interface OperatorErrors {
    /** The line to print for {@code e}, without the command's name. */
    String describe(Exception e);
  }

  /** A subcommand's command line, named {@code mesh <name>}. */
  public static CommandLine create(Object command, String name) {
    return configure(new CommandLine(command).setCommandName("mesh " + name));
  }

  /** Applies the settings above to {@code cl} and the subcommands it has now. */
  public static CommandLine configure(CommandLine cl) {
    abbreviateSynopsis(cl);
    cl.setCaseInsensitiveEnumValuesAllowed(true);
    // a value such as @file is the value, not a file of arguments to read (picocli's default)
    cl.setExpandAtFiles(false);
    cl.setParameterExceptionHandler((e, args) -> {
      CommandLine failed = e.getCommandLine();
      PrintWriter err = failed.getErr();
      err.println(failed.getCommandSpec().qualifiedName() + ": " + e.getMessage());
      UnmatchedArgumentException.printSuggestions(e, err);
      err.println();
      err.print(failed.getUsageMessage());
      err.flush();
      return failed.getCommandSpec().exitCodeOnInvalidInput();
    });
    cl.setExecutionExceptionHandler((e, line, parsed) -> {
      line.getErr().println(line.getCommandSpec().qualifiedName() + ": " + describe(line, e));
      line.getErr().flush();
      return 1;
    });
    return cl;
  }

  private static String describe(CommandLine failed, Exception e) {
    for (CommandLine c = failed; c != null; c = c.getParent()) {
      if (c.getCommand() instanceof OperatorErrors errors) {
        return errors.describe(e);
      }
    }
    return message(e);
  }

  /** {@code Usage: mesh ztunnel [OPTIONS]}, as kubectl's {@code [flags]}: the options follow. */
  private static void abbreviateSynopsis(CommandLine cl) {
    cl.getCommandSpec().usageMessage().abbreviateSynopsis(true);
    cl.getSubcommands().values().forEach(MeshCommandLine::abbreviateSynopsis);
  }

  /** The exception's message, or its class when it has none. */
  public static String message(Exception e) {
    return e.getMessage() == null ? e.toString() : e.getMessage();
  }

  /**
   * A duration as Go and kubectl write it: {@code 500ms}, {@code 30s}, {@code 5m}, {@code 1h30m},
   * {@code 24h}; {@code 0} is zero. Use {@link PositiveDuration} where zero means nothing.
   */
  public static final class DurationConverter implements ITypeConverter<Duration> {
    @Override
    public Duration convert(String value) {
      try {
        return GoDuration.parse(value.strip().toLowerCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new TypeConversionException("'" + value + "' is not a duration (expected e.g. 500ms, 30s,"
            + " 5m, 1h30m or 24h)");
      }
    }
  }

  /** A duration above zero, written as {@link DurationConverter} reads it. */
  public static final class PositiveDuration implements ITypeConverter<Duration> {
    @Override
    public Duration convert(String value) {
      Duration d = new DurationConverter().convert(value);
      if (d.isZero()) {
        throw new TypeConversionException("'" + value + "' is not a positive duration (expected e.g."
            + " 500ms, 30s, 5m or 1h30m)");
      }
      return d;
    }
  }

  /** A whole number of at least 1, e.g. {@code 5000}. */
  public static final class PositiveCount implements ITypeConverter<Integer> {
    @Override
    public Integer convert(String value) {
      int n;
      try {
        n = Integer.parseInt(value.strip());
      } catch (NumberFormatException e) {
        throw new TypeConversionException("'" + value + "' is not a whole number");
      }
      if (n < 1) {
        throw new TypeConversionException("must be at least 1 (got " + n + ")");
      }
      return n;
    }
  }
}
