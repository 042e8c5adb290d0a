package dev.ambientj.launcher;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code mesh} and each of its subcommands read the command line the same way. */
class MainTest {
  record Run(int exit, String out, String err) {}

  private static Run mesh(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine mesh = Main.commandLine();
    mesh.setOut(new PrintWriter(out, true)).setErr(new PrintWriter(err, true));
    int exit = mesh.execute(args);
    return new Run(exit, out.toString(), err.toString());
  }

  /** Every command under {@code mesh}, as the words that name it: [ztunnel], [waypoint, apply], ... */
  private static List<List<String>> everySubcommand() {
    List<List<String>> all = new ArrayList<>();
    collect(Main.commandLine(), List.of(), all);
    return all;
  }

  private static void collect(CommandLine c, List<String> path, List<List<String>> all) {
    for (Map.Entry<String, CommandLine> e : c.getSubcommands().entrySet()) {
      if (!e.getKey().equals(e.getValue().getCommandName())) {
        continue; // an alias
      }
      List<String> p = new ArrayList<>(path);
      p.add(e.getKey());
      all.add(p);
      collect(e.getValue(), p, all);
    }
  }

  private static String[] with(List<String> words, String... more) {
    List<String> args = new ArrayList<>(words);
    args.addAll(List.of(more));
    return args.toArray(String[]::new);
  }

  @Test
  void everySubcommandHasHelpExit0AndRefusesABogusFlagWithExit2AndItsUsage() {
    List<List<String>> subcommands = everySubcommand();
    assertThat(subcommands).extracting(p -> String.join(" ", p)).contains("demo", "ztunnel", "waypoint",
        "waypoint generate", "waypoint apply", "waypoint list", "waypoint status", "waypoint delete",
        "config-server", "cni-agent", "analyze", "ztunnel-config", "ztunnel-config workloads",
        "proxy-status", "version", "completion", "help");
    for (List<String> words : subcommands) {
      String name = "mesh " + String.join(" ", words);
      for (String help : List.of("--help", "-h")) {
        Run r = mesh(with(words, help));
        assertThat(r.exit()).as(name + " " + help + "\n" + r.err()).isZero();
        assertThat(r.out()).as(name + " " + help).contains("Usage: " + name);
      }
      // a required argument given, so that the bogus flag is the only problem
      Run bogus = mesh(words.equals(List.of("completion")) ? with(words, "bash", "--bogus-flag=1")
          : with(words, "--bogus-flag=1"));
      assertThat(bogus.exit()).as(name + " --bogus-flag=1").isEqualTo(2);
      assertThat(bogus.err()).as(name + " --bogus-flag=1")
          .contains(name + ": Unknown option: '--bogus-flag=1'").contains("Usage: " + name);
    }
  }

  @Test
  void aSubcommandIsBuiltAloneUnlessOthersAreNeeded() {
    assertThat(Main.commandLine("ztunnel").getSubcommands()).containsOnlyKeys("ztunnel");
    assertThat(Main.commandLine("waypoint").getSubcommands().get("waypoint").getSubcommands())
        .containsKeys("generate", "apply", "list", "status", "delete");
    for (String needsAll : new String[] {null, "help", "completion", "--help", "--version", "ztunel"}) {
      assertThat(Main.commandLine(needsAll).getSubcommands()).as(needsAll)
          .containsKeys("demo", "ztunnel", "waypoint", "config-server", "cni-agent", "analyze",
              "ztunnel-config", "proxy-status", "version", "completion", "help");
    }
  }

  @Test
  void aMistypedFlagGetsASuggestion() {
    Run r = mesh("ztunnel", "--nod=node-a");
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.err()).contains("Unknown option: '--nod=node-a'").contains("Possible solutions: --node");
  }

  @Test
  void everySubcommandTakesFlagEqualsValue() {
    // Each parses to the value given after '=' (not "Unknown option"), then goes on to run.
    record Case(String[] args, String option, Object value) {}
    List<Case> cases = List.of(
        new Case(new String[] {"demo", "--examples=/nowhere"}, "--examples", Path.of("/nowhere")),
        new Case(new String[] {"ztunnel", "--node=node-a"}, "--node", "node-a"),
        new Case(new String[] {"waypoint", "--name=wp"}, "--name", "wp"),
        new Case(new String[] {"waypoint", "generate", "--namespace=shop"}, "--namespace", "shop"),
        new Case(new String[] {"config-server", "--state-dir=/s"}, "--state-dir", Path.of("/s")),
        new Case(new String[] {"cni-agent", "--socket=/run/a.sock"}, "--socket", Path.of("/run/a.sock")),
        new Case(new String[] {"analyze", "--suppress=IST0101=Pod a/b"}, "--suppress", List.of("IST0101=Pod a/b")),
        new Case(new String[] {"ztunnel-config", "workloads", "--node=node-a"}, "--node", "node-a"),
        new Case(new String[] {"proxy-status", "--xds=127.0.0.1:1"}, "--xds", "127.0.0.1:1"),
        new Case(new String[] {"version", "--output=json"}, "--output", VersionCommand.Format.JSON));
    for (Case c : cases) {
      CommandLine.ParseResult parsed = Main.commandLine().parseArgs(c.args());
      while (parsed.hasSubcommand()) {
        parsed = parsed.subcommand();
      }
      assertThat((Object) parsed.matchedOptionValue(c.option(), null)).as(String.join(" ", c.args()))
          .isEqualTo(c.value());
    }
    // and runs on to the command's own next check
    Run ztunnel = mesh("ztunnel", "--node=node-a");
    assertThat(ztunnel.exit()).isEqualTo(2);
    assertThat(ztunnel.err()).contains("mesh ztunnel: one of --config FILE, --xds HOST:PORT or --kubernetes is required");
    Run server = mesh("config-server", "--listen=nowhere", "--kubernetes");
    assertThat(server.exit()).isEqualTo(2);
    assertThat(server.err()).contains("--listen").contains("nowhere").doesNotContain("Unknown option");
  }

  @Test
  void durationsAreGoStyleEverywhere() {
    Run ztunnel = mesh("ztunnel", "--node", "a", "--connect-timeout=1x");
    assertThat(ztunnel.exit()).isEqualTo(2);
    assertThat(ztunnel.err()).contains("--connect-timeout").contains("'1x' is not a duration");
    Run server = mesh("config-server", "--kubernetes", "--max-cert-ttl", "PT1H");
    assertThat(server.exit()).isEqualTo(2);
    assertThat(server.err()).contains("'PT1H' is not a duration (expected e.g. 500ms, 30s, 5m, 1h30m or 24h)");
  }

  @Test
  void meshAloneIsAUsageErrorAndHelpListsTheSubcommandsInGroups() {
    Run none = mesh();
    assertThat(none.exit()).isEqualTo(2);
    assertThat(none.err()).contains("a subcommand is required").contains("Usage: mesh");
    for (String[] help : List.of(new String[] {"--help"}, new String[] {"help"})) {
      Run r = mesh(help);
      assertThat(r.exit()).isZero();
      assertThat(r.out()).contains("Run the mesh:").contains("Inspect and check:")
          .contains("  ztunnel-config  Print what a running ztunnel holds");
    }
    Run helpOf = mesh("help", "ztunnel");
    assertThat(helpOf.exit()).isZero();
    assertThat(helpOf.out()).contains("Usage: mesh ztunnel").contains("Config and identity:").contains("Limits");
    Run unknown = mesh("ztunel");
    assertThat(unknown.exit()).isEqualTo(2);
    assertThat(unknown.err()).contains("Unmatched argument at index 0: 'ztunel'").contains("ztunnel");
  }

  @Test
  void versionSaysTheBuildTheCommitAndTheJdk() throws Exception {
    Run flag = mesh("--version");
    assertThat(flag.exit()).isZero();
    assertThat(flag.out()).containsPattern("ambientj \\d+\\.\\d+\\.\\d+\\S* \\(git commit ([0-9a-f]{7,}|unknown)\\)")
        .contains("JDK " + Runtime.version());
    Run word = mesh("version");
    assertThat(word.out()).isEqualTo(flag.out());
    Run json = mesh("version", "-o", "json");
    assertThat(json.exit()).isZero();
    JsonNode v = new ObjectMapper().readTree(json.out());
    assertThat(v.get("version").asText()).matches("\\d+\\.\\d+\\.\\d+\\S*");
    assertThat(v.get("commit").asText()).matches("[0-9a-f]{7,}|unknown");
    assertThat(v.get("jdk").asText()).isEqualTo(System.getProperty("java.runtime.version"));
    assertThat(v.get("jdkVendor").asText()).isEqualTo(System.getProperty("java.vendor"));
  }

  @Test
  void theCompletionScriptIsValidBashAndKnowsTheSubcommands(@TempDir Path tmp) throws Exception {
    for (String shell : List.of("bash", "zsh")) {
      Run r = mesh("completion", shell);
      assertThat(r.exit()).isZero();
      assertThat(r.out()).contains("ztunnel-config").contains("proxy-status").contains("config-server")
          .contains("--max-connections");
      Path script = Files.writeString(tmp.resolve("mesh-" + shell), r.out(), StandardCharsets.UTF_8);
      Process bash = new ProcessBuilder("bash", "-n", script.toString()).redirectErrorStream(true).start();
      String output = new String(bash.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(bash.waitFor(30, TimeUnit.SECONDS)).isTrue();
      assertThat(bash.exitValue()).as(output).isZero();
    }
    // and completes: subcommands from a prefix, then a subcommand's flags
    Path script = tmp.resolve("mesh-bash");
    String complete = "source " + script + "; complete_words() { COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1));"
        + " COMP_LINE=\"$*\"; COMP_POINT=${#COMP_LINE}; COMPREPLY=(); _complete_mesh 2>/dev/null;"
        + " printf '%s\\n' \"${COMPREPLY[@]}\"; }; complete_words mesh ztun; echo --;"
        + " complete_words mesh ztunnel --max-c";
    Process bash = new ProcessBuilder("bash", "-c", complete).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    String completed = new String(bash.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(bash.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(completed.lines().toList()).containsExactly("ztunnel", "ztunnel-config", "--", "--max-connections");
    Run fish = mesh("completion", "fish");
    assertThat(fish.exit()).isEqualTo(2);
    assertThat(fish.err()).contains("fish");
  }
}
