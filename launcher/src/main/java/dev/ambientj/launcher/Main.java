package dev.ambientj.launcher;

import dev.ambientj.cni.CniAgentCommand;
import dev.ambientj.config.analyze.AnalyzeCommand;
import dev.ambientj.config.cli.MeshCommandLine;
import dev.ambientj.config.cli.MeshVersion;
import dev.ambientj.config.server.ConfigServerCommand;
import dev.ambientj.launcher.demo.DemoCommand;
import dev.ambientj.launcher.inspect.ProxyStatusCommand;
import dev.ambientj.launcher.inspect.WaypointAdminCommand;
import dev.ambientj.launcher.inspect.ZtunnelConfigCommand;
import dev.ambientj.waypoint.WaypointCommand;
import dev.ambientj.ztunnel.ZtunnelCommand;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * The {@code ./mesh} entry point: {@code mesh} is a picocli command whose subcommands are the
 * modules' commands, so that every one reads flags the same way ({@link MeshCommandLine}).
 *
 * <p>Exit codes: what the subcommand returns; 0 for {@code --help}/{@code help}/{@code --version};
 * 2 for usage errors (no or an unknown subcommand, an unknown flag, a bad value).
 */
@Command(name = "mesh", mixinStandardHelpOptions = true, versionProvider = MeshVersion.class,
    usageHelpAutoWidth = true, synopsisSubcommandLabel = "<subcommand>", commandListHeading = "",
    description = "ambientj: Istio's ambient-mode data plane in Java.",
    footerHeading = "%n",
    footer = {"Run `mesh <subcommand> --help` (or `mesh help <subcommand>`) for its flags.",
        "Completion in this shell: source <(mesh completion bash)   (or zsh)"})
public final class Main implements Callable<Integer> {
  /** The groups of subcommands in {@code mesh --help}, as kubectl groups its own. */
  private static final Map<String, List<String>> GROUPS = new LinkedHashMap<>();

  static {
    GROUPS.put("Run the mesh:", List.of("demo", "ztunnel", "waypoint", "config-server", "cni-agent"));
    GROUPS.put("Inspect and check:", List.of("ztunnel-config", "proxy-status", "analyze"));
    GROUPS.put("Other:", List.of("version", "completion", "help"));
  }

  @Spec CommandSpec spec;

  private Main() {}

  public static void main(String[] args) {
    System.exit(run(args));
  }

  static int run(String[] args) {
    return commandLine(args.length == 0 ? null : args[0]).execute(args);
  }

  /** A subcommand: its command line (built only when needed) and its one-line summary. */
  private record Subcommand(Supplier<CommandLine> commandLine, String summary) {}

  private static final Map<String, Subcommand> SUBCOMMANDS = new LinkedHashMap<>();

  static {
    SUBCOMMANDS.put("demo", new Subcommand(DemoCommand::commandLine,
        "Start a two-node mesh from examples/ on loopback, drive traffic through it, print what happened"));
    SUBCOMMANDS.put("ztunnel", new Subcommand(ZtunnelCommand::commandLine,
        "Run the node proxy: --config FILE --node NODE"));
    SUBCOMMANDS.put("waypoint", new Subcommand(() -> {
      CommandLine waypoint = WaypointCommand.commandLine();
      WaypointAdminCommand.addSubcommands(waypoint);
      return waypoint;
    }, "Run an L7 waypoint (--config FILE --name NAME --namespace NS), or manage waypoints:"
        + " waypoint generate|apply|list|status|delete"));
    SUBCOMMANDS.put("config-server", new Subcommand(ConfigServerCommand::commandLine,
        "Serve xDS and the CA from --config FILE or --kubernetes"));
    SUBCOMMANDS.put("cni-agent", new Subcommand(CniAgentCommand::commandLine,
        "Run the CNI node agent that enrolls pods on this node"));
    SUBCOMMANDS.put("analyze", new Subcommand(AnalyzeCommand::commandLine,
        "Check mesh YAML files (or the cluster) as istioctl analyze does"));
    SUBCOMMANDS.put("ztunnel-config", new Subcommand(ZtunnelConfigCommand::commandLine,
        "Print what a running ztunnel holds: workloads|services|policies|certificates|all"));
    SUBCOMMANDS.put("proxy-status", new Subcommand(ProxyStatusCommand::commandLine,
        "List the proxies connected to the config server and whether they are in sync"));
    SUBCOMMANDS.put("version", new Subcommand(() -> new CommandLine(new VersionCommand()),
        "Print the version, git commit and JDK"));
    SUBCOMMANDS.put("completion", new Subcommand(() -> new CommandLine(new CompletionCommand()),
        "Print a bash or zsh completion script for mesh"));
    SUBCOMMANDS.put("help", new Subcommand(() -> new CommandLine(new HelpCommand()),
        "Print the help of mesh or of a subcommand"));
  }

  /** {@code mesh} with every subcommand. */
  static CommandLine commandLine() {
    return commandLine(null);
  }

  /**
   * {@code mesh} for a command line whose first word is {@code first}: with that subcommand only
   * when it is one that needs no other (building every subcommand's model loads most of the
   * proxies' classes: it tripled the start-up of {@code mesh ztunnel}); with all of them for
   * {@code mesh}, its flags, {@code help}, {@code completion} and an unknown word (to suggest).
   */
  static CommandLine commandLine(String first) {
    boolean one = first != null && SUBCOMMANDS.containsKey(first)
        && !first.equals("help") && !first.equals("completion");
    CommandLine mesh = new CommandLine(new Main());
    SUBCOMMANDS.forEach((name, sub) -> {
      if (!one || name.equals(first)) {
        CommandLine cl = sub.commandLine().get().setCommandName(name);
        cl.getCommandSpec().usageMessage().header(sub.summary() + ".");
        mesh.addSubcommand(name, cl);
      }
    });
    mesh.getHelpSectionMap().put(CommandLine.Model.UsageMessageSpec.SECTION_KEY_COMMAND_LIST,
        Main::groupedCommandList);
    return MeshCommandLine.configure(mesh);
  }

  /** The subcommands under kubectl-like headings, each with its one-line summary. */
  private static String groupedCommandList(CommandLine.Help help) {
    StringBuilder b = new StringBuilder();
    Map<String, CommandLine.Help> subcommands = help.subcommands();
    for (Map.Entry<String, List<String>> group : GROUPS.entrySet()) {
      b.append(System.lineSeparator()).append(group.getKey()).append(System.lineSeparator());
      for (String name : group.getValue()) {
        String[] header = subcommands.get(name).commandSpec().usageMessage().header();
        b.append(String.format("  %-15s %s%n", name, header.length == 0 ? "" : header[0]));
      }
    }
    return b.toString();
  }

  /** {@code mesh} alone: the usage on stderr, a usage error. */
  @Override
  public Integer call() {
    PrintWriter err = spec.commandLine().getErr();
    err.println("mesh: a subcommand is required");
    err.println();
    spec.commandLine().usage(err);
    return 2;
  }
}
