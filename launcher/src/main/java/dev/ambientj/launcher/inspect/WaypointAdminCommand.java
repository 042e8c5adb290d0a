package dev.ambientj.launcher.inspect;

import dev.ambientj.config.MeshTranslator;
import dev.ambientj.config.cli.MeshCommandLine;
import dev.ambientj.config.cli.MeshVersion;
import dev.ambientj.config.kubernetes.ApiRetry;
import dev.ambientj.config.server.waypoint.WaypointController;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine;

/**
 * {@code mesh waypoint generate|apply|list|status|delete}: waypoints as {@code istioctl waypoint}
 * manages them — a Gateway API {@code Gateway} of class {@code istio-waypoint} with its HBONE
 * listener, which the config server's controller deploys and marks {@code Programmed} once ready.
 * {@code generate} prints it; the others talk to the cluster of the current kubeconfig (or the
 * pod's service account).
 */
@Command(name = "waypoint", mixinStandardHelpOptions = true,
    versionProvider = MeshVersion.class,
    description = "Manage waypoints (Gateways of class istio-waypoint), as istioctl waypoint does."
        + " Without one of these subcommands, `mesh waypoint` runs the waypoint proxy.")
public final class WaypointAdminCommand implements Callable<Integer>, MeshCommandLine.OperatorErrors {
  /** The subcommands: what {@code mesh waypoint ARGS} hands here rather than to the proxy. */
  public static final Set<String> SUBCOMMANDS = Set.of("generate", "apply", "list", "status", "delete");

  private static final Set<String> TRAFFIC_TYPES = Set.of("service", "workload", "all", "none");

  @Spec CommandLine.Model.CommandSpec spec;
  private final Supplier<KubernetesClient> clients;

  private WaypointAdminCommand(Supplier<KubernetesClient> clients) {
    this.clients = clients;
  }

  /** Runs {@code mesh waypoint ARGS} against the cluster of the current kubeconfig. */
  public static int run(String[] args) {
    return commandLine(() -> new KubernetesClientBuilder().build()).execute(args);
  }

  /** As {@link #run(String[])} with {@code clients} for the API and the given outputs. */
  public static int run(String[] args, Supplier<KubernetesClient> clients, PrintWriter out,
      PrintWriter err) {
    return commandLine(clients).setOut(out).setErr(err).execute(args);
  }

  private static CommandLine commandLine(Supplier<KubernetesClient> clients) {
    CommandLine cl = new CommandLine(new WaypointAdminCommand(clients));
    addSubcommands(cl, clients);
    return MeshCommandLine.configure(cl.setCommandName("mesh waypoint"));
  }

  /**
   * Adds {@code generate|apply|list|status|delete} to {@code waypoint} (the proxy's command line,
   * in {@code mesh}), against the cluster of the current kubeconfig.
   */
  public static void addSubcommands(CommandLine waypoint) {
    addSubcommands(waypoint, () -> new KubernetesClientBuilder().build());
  }

  private static void addSubcommands(CommandLine waypoint, Supplier<KubernetesClient> clients) {
    WaypointAdminCommand admin = new WaypointAdminCommand(clients);
    waypoint.addSubcommand(new Generate());
    waypoint.addSubcommand(new Apply(admin));
    waypoint.addSubcommand(new ListCommand(admin));
    waypoint.addSubcommand(new Status(admin));
    waypoint.addSubcommand(new Delete(admin));
  }

  @Override
  public String describe(Exception e) {
    return e instanceof KubernetesClientException
        ? "the Kubernetes API did not answer: " + apiProblem(e)
            + " (kubectl's current context, or the pod's service account, is the cluster used)"
        : MeshCommandLine.message(e);
  }

  /** A subcommand that talks to the cluster: its errors are described as the API's. */
  abstract static class ClusterCommand implements Callable<Integer>, MeshCommandLine.OperatorErrors {
    final WaypointAdminCommand parent;

    ClusterCommand(WaypointAdminCommand parent) {
      this.parent = parent;
    }

    @Override
    public String describe(Exception e) {
      return parent.describe(e);
    }
  }

  @Override
  public Integer call() {
    spec.commandLine().usage(spec.commandLine().getErr());
    return 2;
  }

  /** The Gateway istioctl would write for {@code name} in {@code namespace}. */
  static Gateway gateway(String namespace, String name, String trafficType) {
    return new GatewayBuilder()
        .withNewMetadata().withNamespace(namespace).withName(name)
        .withLabels(Map.of(MeshTranslator.LABEL_WAYPOINT_FOR, trafficType)).endMetadata()
        .withNewSpec().withGatewayClassName(WaypointController.GATEWAY_CLASS)
        .addNewListener().withName("mesh").withPort(WaypointController.HBONE_PORT).withProtocol("HBONE")
        .endListener().endSpec().build();
  }

  static Optional<Condition> condition(Gateway g, String type) {
    if (g.getStatus() == null || g.getStatus().getConditions() == null) {
      return Optional.empty();
    }
    return g.getStatus().getConditions().stream().filter(c -> type.equals(c.getType())).findFirst();
  }

  static boolean isWaypoint(Gateway g) {
    return g.getSpec() != null && WaypointController.GATEWAY_CLASS.equals(g.getSpec().getGatewayClassName());
  }

  /** The options of the subcommands that name one waypoint. */
  static class Named {
    @Option(names = {"-n", "--namespace"}, defaultValue = "default", description = "its namespace (default: ${DEFAULT-VALUE})")
    String namespace;

    @Option(names = "--name", defaultValue = "waypoint", description = "its name (default: ${DEFAULT-VALUE})")
    String name;

    @Option(names = "--for", defaultValue = "service", paramLabel = "TYPE",
        description = "the traffic it handles: service, workload, all or none (default: ${DEFAULT-VALUE})")
    String trafficType;

    Gateway gateway(CommandLine.Model.CommandSpec spec) {
      if (!TRAFFIC_TYPES.contains(trafficType)) {
        throw new CommandLine.ParameterException(spec.commandLine(),
            "--for: '" + trafficType + "' is not one of service, workload, all, none");
      }
      return WaypointAdminCommand.gateway(namespace, name, trafficType);
    }
  }

  @Command(name = "generate", mixinStandardHelpOptions = true,
      description = "Print the Gateway of a waypoint as YAML (nothing is sent to the cluster).")
  static final class Generate implements Callable<Integer> {
    @Spec CommandLine.Model.CommandSpec spec;
    @CommandLine.Mixin Named waypoint = new Named();

    @Override
    public Integer call() {
      spec.commandLine().getOut().print(Serialization.asYaml(waypoint.gateway(spec)));
      spec.commandLine().getOut().flush();
      return 0;
    }
  }

  @Command(name = "apply", mixinStandardHelpOptions = true,
      description = "Create or update a waypoint's Gateway in the cluster.")
  static final class Apply extends ClusterCommand {
    @Spec CommandLine.Model.CommandSpec spec;

    Apply(WaypointAdminCommand parent) {
      super(parent);
    }

    @CommandLine.Mixin Named waypoint = new Named();

    @Option(names = "--enroll-namespace",
        description = "also label the namespace istio.io/use-waypoint=NAME, so that its traffic goes through it")
    boolean enrollNamespace;

    @Option(names = "--overwrite", description = "replace a waypoint the namespace already uses")
    boolean overwrite;

    @Option(names = "--wait", description = "wait until the waypoint is Programmed")
    boolean await;

    @Option(names = "--timeout", defaultValue = "120s", paramLabel = "DURATION",
        converter = MeshCommandLine.PositiveDuration.class,
        description = "how long --wait waits (default: ${DEFAULT-VALUE})")
    Duration timeout;

    @Override
    public Integer call() throws Exception {
      Gateway g = waypoint.gateway(spec);
      PrintWriter out = spec.commandLine().getOut();
      try (KubernetesClient client = parent.clients.get()) {
        Namespace ns = client.namespaces().withName(waypoint.namespace).get();
        if (ns == null) {
          throw new IllegalStateException("namespace " + waypoint.namespace + " not found");
        }
        client.resource(g).createOr(io.fabric8.kubernetes.client.dsl.NonDeletingOperation::update);
        out.println("waypoint " + waypoint.namespace + "/" + waypoint.name + " applied");
        if (enrollNamespace) {
          String current = ns.getMetadata().getLabels() == null ? null
              : ns.getMetadata().getLabels().get(MeshTranslator.LABEL_USE_WAYPOINT);
          if (current != null && !current.equals(waypoint.name) && !overwrite) {
            throw new IllegalStateException("namespace " + waypoint.namespace + " already uses waypoint "
                + current + " (give --overwrite to replace it)");
          }
          client.namespaces().withName(waypoint.namespace).edit(n -> {
            n.getMetadata().getLabels().put(MeshTranslator.LABEL_USE_WAYPOINT, waypoint.name);
            return n;
          });
          out.println("namespace " + waypoint.namespace + " labeled with \""
              + MeshTranslator.LABEL_USE_WAYPOINT + ": " + waypoint.name + "\"");
        }
        out.flush();
        if (await) {
          long deadline = System.nanoTime() + timeout.toNanos();
          while (true) {
            Gateway now = client.resource(g).get();
            if (now != null && condition(now, "Programmed").map(c -> "True".equals(c.getStatus())).orElse(false)) {
              out.println("waypoint " + waypoint.namespace + "/" + waypoint.name + " programmed");
              out.flush();
              return 0;
            }
            if (System.nanoTime() > deadline) {
              throw new IllegalStateException("waypoint " + waypoint.namespace + "/" + waypoint.name
                  + " not Programmed within " + timeout.toMillis() / 1000.0 + " s (is the config server running? `mesh"
                  + " waypoint status` shows its conditions)");
            }
            Thread.sleep(200);
          }
        }
      }
      return 0;
    }
  }

  @Command(name = "list", mixinStandardHelpOptions = true, description = "List the waypoints.")
  static final class ListCommand extends ClusterCommand {
    @Spec CommandLine.Model.CommandSpec spec;

    ListCommand(WaypointAdminCommand parent) {
      super(parent);
    }


    @Option(names = {"-n", "--namespace"}, defaultValue = "default", description = "the namespace (default: ${DEFAULT-VALUE})")
    String namespace;

    @Option(names = {"-A", "--all-namespaces"}, description = "every namespace")
    boolean all;

    @Override
    public Integer call() {
      try (KubernetesClient client = parent.clients.get()) {
        List<Gateway> gateways = new ArrayList<>(all
            ? client.resources(Gateway.class).inAnyNamespace().list().getItems()
            : client.resources(Gateway.class).inNamespace(namespace).list().getItems());
        gateways.removeIf(g -> !isWaypoint(g));
        gateways.sort(Comparator.comparing((Gateway g) -> g.getMetadata().getNamespace())
            .thenComparing(g -> g.getMetadata().getName()));
        PrintWriter out = spec.commandLine().getOut();
        if (gateways.isEmpty()) {
          spec.commandLine().getErr().println(all ? "No waypoints found." : "No waypoints found in namespace " + namespace + ".");
          return 0;
        }
        Table t = all
            ? new Table("NAMESPACE", "NAME", "REVISION", "TRAFFIC TYPE", "PROGRAMMED")
            : new Table("NAME", "REVISION", "TRAFFIC TYPE", "PROGRAMMED");
        for (Gateway g : gateways) {
          Map<String, String> labels = g.getMetadata().getLabels() == null ? Map.of() : g.getMetadata().getLabels();
          String revision = labels.getOrDefault("istio.io/rev", "default");
          String traffic = labels.getOrDefault(MeshTranslator.LABEL_WAYPOINT_FOR, "service");
          String programmed = condition(g, "Programmed").map(Condition::getStatus).orElse("Unknown");
          if (all) {
            t.row(g.getMetadata().getNamespace(), g.getMetadata().getName(), revision, traffic, programmed);
          } else {
            t.row(g.getMetadata().getName(), revision, traffic, programmed);
          }
        }
        out.print(t);
        out.flush();
      }
      return 0;
    }
  }

  @Command(name = "status", mixinStandardHelpOptions = true,
      description = "Show a waypoint's conditions (Accepted, Programmed) as the controller set them.")
  static final class Status extends ClusterCommand {
    @Spec CommandLine.Model.CommandSpec spec;

    Status(WaypointAdminCommand parent) {
      super(parent);
    }


    @Option(names = {"-n", "--namespace"}, defaultValue = "default", description = "its namespace (default: ${DEFAULT-VALUE})")
    String namespace;

    @Option(names = "--name", defaultValue = "waypoint", description = "its name (default: ${DEFAULT-VALUE})")
    String name;

    @Override
    public Integer call() {
      try (KubernetesClient client = parent.clients.get()) {
        Gateway g = client.resources(Gateway.class).inNamespace(namespace).withName(name).get();
        if (g == null || !isWaypoint(g)) {
          throw new IllegalStateException("no waypoint " + namespace + "/" + name);
        }
        Table t = new Table("NAMESPACE", "NAME", "STATUS", "TYPE", "REASON", "MESSAGE");
        List<Condition> conditions = g.getStatus() == null || g.getStatus().getConditions() == null
            ? List.of() : g.getStatus().getConditions();
        if (conditions.isEmpty()) {
          t.row(namespace, name, "Unknown", "", "", "no conditions yet: is the config server running?");
        }
        for (Condition c : conditions) {
          t.row(namespace, name, c.getStatus(), c.getType(), nullToEmpty(c.getReason()), nullToEmpty(c.getMessage()));
        }
        spec.commandLine().getOut().print(t);
        spec.commandLine().getOut().flush();
      }
      return 0;
    }
  }

  @Command(name = "delete", mixinStandardHelpOptions = true, description = "Delete waypoints.")
  static final class Delete extends ClusterCommand {
    @Spec CommandLine.Model.CommandSpec spec;

    Delete(WaypointAdminCommand parent) {
      super(parent);
    }


    @Option(names = {"-n", "--namespace"}, defaultValue = "default", description = "the namespace (default: ${DEFAULT-VALUE})")
    String namespace;

    @Option(names = "--all", description = "every waypoint of the namespace")
    boolean all;

    @Parameters(paramLabel = "NAME", arity = "0..*", description = "the waypoints to delete (default: waypoint)")
    List<String> names = new ArrayList<>();

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      try (KubernetesClient client = parent.clients.get()) {
        List<String> targets = new ArrayList<>(names);
        if (all) {
          client.resources(Gateway.class).inNamespace(namespace).list().getItems().stream()
              .filter(WaypointAdminCommand::isWaypoint).forEach(g -> targets.add(g.getMetadata().getName()));
        } else if (targets.isEmpty()) {
          targets.add("waypoint");
        }
        for (String n : targets) {
          Gateway g = client.resources(Gateway.class).inNamespace(namespace).withName(n).get();
          if (g == null || !isWaypoint(g)) {
            throw new IllegalStateException("no waypoint " + namespace + "/" + n);
          }
          client.resource(g).delete();
          out.println("waypoint " + namespace + "/" + n + " deleted");
        }
        out.flush();
      }
      return 0;
    }
  }

  private static String apiProblem(Exception e) {
    Throwable root = e;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    return root instanceof java.net.UnknownHostException ? "unknown host " + root.getMessage()
        : ApiRetry.describe(e);
  }

  private static String nullToEmpty(String s) {
    return s == null ? "" : s;
  }
}
