package dev.ambientj.launcher;

import dev.ambientj.cni.CniAgentCommand;
import dev.ambientj.config.analyze.AnalyzeCommand;
import dev.ambientj.config.server.ConfigServerCommand;
import dev.ambientj.launcher.demo.DemoCommand;
import dev.ambientj.launcher.inspect.ProxyStatusCommand;
import dev.ambientj.launcher.inspect.WaypointAdminCommand;
import dev.ambientj.launcher.inspect.ZtunnelConfigCommand;
import dev.ambientj.waypoint.WaypointCommand;
import dev.ambientj.ztunnel.ZtunnelCommand;
import java.io.PrintStream;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * The {@code ./mesh} entry point: dispatches a subcommand to the module that implements it.
 *
 * <p>Exit codes: what the subcommand returns; 2 for usage errors (unknown subcommand or flag).
 */
public final class Main {

  private record Subcommand(String summary, Function<String[], Integer> entry) {}

  private static final Map<String, Subcommand> SUBCOMMANDS = new LinkedHashMap<>();

  static {
    SUBCOMMANDS.put("demo", new Subcommand(
        "start a two-node mesh from examples/ on loopback, drive traffic through it, print what happened",
        DemoCommand::run));
    SUBCOMMANDS.put("ztunnel", new Subcommand(
        "run the node proxy: --config FILE --node NODE", ZtunnelCommand::run));
    SUBCOMMANDS.put("waypoint", new Subcommand(
        "run an L7 waypoint: --config FILE --name NAME --namespace NS;"
            + " or manage waypoints: waypoint generate|apply|list|status|delete", WaypointCommand::run));
    SUBCOMMANDS.put("config-server", new Subcommand(
        "serve xDS and the CA from --config FILE or --kubernetes", ConfigServerCommand::run));
    SUBCOMMANDS.put("cni-agent", new Subcommand(
        "run the CNI node agent that enrolls pods on this node", CniAgentCommand::run));
    SUBCOMMANDS.put("analyze", new Subcommand(
        "check mesh YAML files like istioctl analyze: FILE...", AnalyzeCommand::run));
    SUBCOMMANDS.put("proxy-status", new Subcommand(
        "list the proxies connected to the config server and whether they are in sync",
        ProxyStatusCommand::run));
    SUBCOMMANDS.put("ztunnel-config", new Subcommand(
        "print what a running ztunnel holds: workloads|services|policies|certificates|all",
        ZtunnelConfigCommand::run));
  }

  private Main() {}

  public static void main(String[] args) {
    System.exit(run(args));
  }

  static int run(String[] args) {
    if (args.length == 0) {
      usage(System.err);
      return 2;
    }
    String name = args[0];
    if (name.equals("help") || name.equals("--help") || name.equals("-h")) {
      usage(System.out);
      return 0;
    }
    Subcommand subcommand = SUBCOMMANDS.get(name);
    if (subcommand == null) {
      System.err.println("mesh: unknown subcommand '" + name + "'");
      usage(System.err);
      return 2;
    }
    String[] rest = Arrays.copyOfRange(args, 1, args.length);
    if (name.equals("waypoint") && rest.length > 0 && WaypointAdminCommand.SUBCOMMANDS.contains(rest[0])) {
      return WaypointAdminCommand.run(rest); // istioctl's `waypoint generate|apply|list|status|delete`
    }
    return subcommand.entry().apply(rest);
  }

  static void usage(PrintStream out) {
    out.println("usage: mesh <subcommand> [flags]");
    out.println();
    for (Map.Entry<String, Subcommand> e : SUBCOMMANDS.entrySet()) {
      out.printf("  %-14s %s%n", e.getKey(), e.getValue().summary());
    }
    out.printf("  %-14s %s%n", "help", "print this message");
    out.println();
    out.println("Run `mesh <subcommand> --help` for its flags.");
  }
}
