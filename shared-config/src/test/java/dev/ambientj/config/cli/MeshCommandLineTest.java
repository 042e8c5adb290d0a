package dev.ambientj.config.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

class MeshCommandLineTest {
  @Test
  void durationsAsGoAndKubectlWriteThem() {
    var c = new MeshCommandLine.DurationConverter();
    assertThat(c.convert("30s")).isEqualTo(Duration.ofSeconds(30));
    assertThat(c.convert("5m")).isEqualTo(Duration.ofMinutes(5));
    assertThat(c.convert("1h30m")).isEqualTo(Duration.ofMinutes(90));
    assertThat(c.convert("500ms")).isEqualTo(Duration.ofMillis(500));
    assertThat(c.convert("24h")).isEqualTo(Duration.ofHours(24));
    assertThat(c.convert("0")).isZero();
    assertThatThrownBy(() -> c.convert("soon")).isInstanceOf(TypeConversionException.class)
        .hasMessage("'soon' is not a duration (expected e.g. 500ms, 30s, 5m, 1h30m or 24h)");
    assertThatThrownBy(() -> c.convert("10")).as("a unit is required").isInstanceOf(TypeConversionException.class);
    assertThatThrownBy(() -> new MeshCommandLine.PositiveDuration().convert("0"))
        .hasMessageContaining("not a positive duration");
  }

  @Test
  void countsAreAtLeastOne() {
    var c = new MeshCommandLine.PositiveCount();
    assertThat(c.convert(" 5000 ")).isEqualTo(5000);
    assertThatThrownBy(() -> c.convert("0")).hasMessage("must be at least 1 (got 0)");
    assertThatThrownBy(() -> c.convert("x")).hasMessage("'x' is not a whole number");
  }

  @Command(name = "echo")
  static final class Echo implements Callable<Integer> {
    @picocli.CommandLine.Parameters
    java.util.List<String> words;

    @Override
    public Integer call() {
      return words.size();
    }
  }

  @Test
  void anArgumentStartingWithAtIsTakenAsItIs(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp)
      throws Exception {
    java.nio.file.Path file = java.nio.file.Files.writeString(tmp.resolve("args"), "one two three\n");
    Echo echo = new Echo();
    assertThat(MeshCommandLine.create(echo, "echo").execute("@" + file)).isEqualTo(1);
    assertThat(echo.words).containsExactly("@" + file);
  }

  @Command(name = "tool", mixinStandardHelpOptions = true)
  static final class Tool implements Callable<Integer> {
    @Option(names = "--timeout", converter = MeshCommandLine.PositiveDuration.class)
    Duration timeout = Duration.ofSeconds(1);

    @Override
    public Integer call() {
      throw new IllegalStateException("cannot bind 127.0.0.1:1");
    }
  }

  @Test
  void usageErrorsExit2AndRunErrorsAreOneLineExit1() {
    StringWriter err = new StringWriter();
    CommandLine cl = MeshCommandLine.create(new Tool(), "tool").setErr(new PrintWriter(err, true))
        .setOut(new PrintWriter(new StringWriter(), true));
    assertThat(cl.execute("--timout=5s")).isEqualTo(2);
    assertThat(err.toString()).contains("mesh tool: Unknown option: '--timout=5s'").contains("Possible solutions: --timeout")
        .contains("Usage: mesh tool");
    err.getBuffer().setLength(0);
    assertThat(cl.execute("--timeout", "fast")).isEqualTo(2);
    assertThat(err.toString()).contains("'fast' is not a duration");
    err.getBuffer().setLength(0);
    assertThat(cl.execute("--timeout=5s")).isEqualTo(1);
    assertThat(err.toString()).isEqualTo("mesh tool: cannot bind 127.0.0.1:1" + System.lineSeparator());
    assertThat(cl.execute("--help")).isZero();
  }
}
