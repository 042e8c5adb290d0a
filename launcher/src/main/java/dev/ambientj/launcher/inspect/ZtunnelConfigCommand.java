package dev.ambientj.launcher.inspect;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.ambientj.config.cli.MeshCommandLine;
import dev.ambientj.config.cli.MeshVersion;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Predicate;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine;

/**
 * {@code mesh ztunnel-config}: what a running ztunnel holds, read from its admin endpoint's
 * {@code /config_dump} (or a dump saved to a file), printed as {@code istioctl ztunnel-config}
 * prints it: the same subcommands, aliases, columns and filters, {@code -o short|json|yaml}.
 *
 * <p>{@code all -o json} prints the whole dump, which {@code -f} reads back.
 */
@Command(name = "ztunnel-config", mixinStandardHelpOptions = true, versionProvider = MeshVersion.class,
    description = "Print what a running ztunnel holds (its /config_dump), as istioctl ztunnel-config does.",
    subcommands = {
        ZtunnelConfigCommand.Workloads.class, ZtunnelConfigCommand.Services.class,
        ZtunnelConfigCommand.Policies.class, ZtunnelConfigCommand.Certificates.class,
        ZtunnelConfigCommand.Connections.class, ZtunnelConfigCommand.All.class,
        ZtunnelConfigCommand.Log.class})
public final class ZtunnelConfigCommand implements Callable<Integer> {
  private static final Duration TIMEOUT = Duration.ofSeconds(5);

  @Spec CommandLine.Model.CommandSpec spec;

  /** Runs {@code mesh ztunnel-config ARGS}; returns the exit code (0, 1 on an error, 2 on usage). */
  public static int run(String[] args) {
    return commandLine().execute(args);
  }

  /** As {@link #run(String[])}, printing to {@code out} and {@code err}. */
  public static int run(String[] args, PrintWriter out, PrintWriter err) {
    return commandLine().setOut(out).setErr(err).execute(args);
  }

  /** The command line of {@code mesh ztunnel-config}. */
  public static CommandLine commandLine() {
    return MeshCommandLine.create(new ZtunnelConfigCommand(), "ztunnel-config");
  }

  @Override
  public Integer call() {
    spec.commandLine().usage(spec.commandLine().getErr());
    return 2;
  }

  /** {@code --version}: the build's version from the jar's manifest ({@code dev} from classes). */
  /** Where the dump comes from and how to print it: the options every subcommand takes. */
  static final class Source {
    @Option(names = "--admin", paramLabel = "HOST:PORT", defaultValue = "localhost:15000",
        description = "the ztunnel's admin address (its start-up line prints it; default: ${DEFAULT-VALUE})")
    String admin;

    @Option(names = {"-f", "--file"}, paramLabel = "FILE",
        description = "read a saved dump (a /config_dump, or `all -o json`) instead of a running ztunnel")
    Path file;

    @Option(names = {"-o", "--output"}, defaultValue = "short", paramLabel = "FORMAT",
        description = "short, json or yaml (default: ${DEFAULT-VALUE})")
    Format output;

    JsonNode dump() throws IOException, InterruptedException {
      if (file != null) {
        return new ObjectMapper().readTree(Files.readString(file));
      }
      return new ObjectMapper().readTree(admin(admin, "GET", "/config_dump"));
    }
  }

  /**
   * {@code method path} on the ztunnel admin endpoint at {@code admin}; the body of a 200 answer.
   * An unreachable endpoint or another status is an {@link IOException} an operator can act on.
   */
  static String admin(String admin, String method, String path) throws IOException, InterruptedException {
    URI uri = URI.create("http://" + admin + path);
    HttpResponse<String> r;
    try (HttpClient client = HttpClient.newBuilder().connectTimeout(TIMEOUT).build()) {
      r = client.send(HttpRequest.newBuilder(uri).timeout(TIMEOUT)
              .method(method, HttpRequest.BodyPublishers.noBody()).build(),
          HttpResponse.BodyHandlers.ofString());
    } catch (IOException e) {
      String why = e instanceof java.net.ConnectException ? "nothing answers there"
          : e instanceof java.net.http.HttpTimeoutException ? "no answer within " + TIMEOUT.toSeconds() + " s"
          : e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
      throw new IOException("cannot reach " + uri + ": " + why
          + " (is ztunnel running there? give its admin address with --admin)", e);
    }
    if (r.statusCode() != 200) {
      String body = r.body() == null ? "" : r.body().strip();
      throw new IOException(method + " " + uri + " answered " + r.statusCode()
          + (body.isEmpty() ? "" : ": " + body));
    }
    return r.body();
  }

  enum Format {
    SHORT, JSON, YAML;

    @Override
    public String toString() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** Prints {@code items} (an array of the dump) as json/yaml, or {@code table} in short form. */
  private static int print(PrintWriter out, Format format, JsonNode items, Table table)
      throws IOException {
    switch (format) {
      case JSON -> out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
          .writeValueAsString(items));
      case YAML -> out.print(new YAMLMapper().writeValueAsString(items));
      default -> out.print(table);
    }
    out.flush();
    return 0;
  }

  private static ArrayNode filtered(JsonNode dump, String section, Predicate<JsonNode> keep) {
    ArrayNode out = new ObjectMapper().createArrayNode();
    for (JsonNode n : dump.path(section)) {
      if (keep.test(n)) {
        out.add(n);
      }
    }
    return out;
  }

  private static String text(JsonNode n, String field) {
    JsonNode v = n.get(field);
    return v == null || v.isNull() ? "" : v.asText();
  }

  /** {@code production/payment-waypoint} → {@code payment-waypoint}; none → {@code None}. */
  private static String waypointName(JsonNode n) {
    String w = text(n, "waypoint");
    return w.isEmpty() ? "None" : w.substring(w.indexOf('/') + 1);
  }

  /** A subcommand that prints one section of the dump. */
  abstract static class Section implements Callable<Integer> {
    @Spec CommandLine.Model.CommandSpec spec;
    @Mixin Source source = new Source();

    @Override
    public Integer call() throws Exception {
      return render(source.dump(), source.output, spec.commandLine().getOut());
    }

    abstract int render(JsonNode dump, Format format, PrintWriter out) throws IOException;
  }

  @Command(name = "workloads", aliases = {"workload", "w"}, mixinStandardHelpOptions = true,
      description = "The workloads this ztunnel knows: NAMESPACE, POD NAME, ADDRESS, NODE, WAYPOINT, PROTOCOL.")
  static final class Workloads extends Section {
    @Option(names = "--address", description = "only the workload with this address")
    String address;
    @Option(names = "--node", description = "only the workloads of this node")
    String node;
    @Option(names = "--workload-namespace", description = "only the workloads of this namespace")
    String namespace;

    @Override
    int render(JsonNode dump, Format format, PrintWriter out) throws IOException {
      ArrayNode items = filtered(dump, "workloads", w ->
          (address == null || contains(w.path("workloadIps"), address))
              && (node == null || node.equals(text(w, "node")))
              && (namespace == null || namespace.equals(text(w, "namespace"))));
      Table t = new Table("NAMESPACE", "POD NAME", "ADDRESS", "NODE", "WAYPOINT", "PROTOCOL");
      for (JsonNode w : items) {
        t.row(text(w, "namespace"), text(w, "name"), w.path("workloadIps").path(0).asText(""),
            text(w, "node"), waypointName(w), text(w, "protocol"));
      }
      return print(out, format, items, t);
    }
  }

  @Command(name = "services", aliases = {"service", "s", "svc"}, mixinStandardHelpOptions = true,
      description = "The services: NAMESPACE, SERVICE NAME, SERVICE VIP, WAYPOINT, ENDPOINTS (healthy/all).")
  static final class Services extends Section {
    @Option(names = "--service-namespace", description = "only the services of this namespace")
    String namespace;

    @Override
    int render(JsonNode dump, Format format, PrintWriter out) throws IOException {
      Map<String, Boolean> healthy = new HashMap<>();
      for (JsonNode w : dump.path("workloads")) {
        healthy.put(text(w, "uid"), "Healthy".equals(text(w, "status")));
      }
      ArrayNode items = filtered(dump, "services",
          s -> namespace == null || namespace.equals(text(s, "namespace")));
      Table t = new Table("NAMESPACE", "SERVICE NAME", "SERVICE VIP", "WAYPOINT", "ENDPOINTS");
      for (JsonNode s : items) {
        int all = 0;
        int up = 0;
        for (JsonNode uid : s.path("endpoints")) {
          all++;
          if (healthy.getOrDefault(uid.asText(), false)) {
            up++;
          }
        }
        t.row(text(s, "namespace"), text(s, "name"), s.path("vips").path(0).asText(""),
            waypointName(s), up + "/" + all);
      }
      return print(out, format, items, t);
    }
  }

  @Command(name = "policies", aliases = {"policy", "p", "pol"}, mixinStandardHelpOptions = true,
      description = "The AuthorizationPolicies: NAMESPACE, POLICY NAME, ACTION, SCOPE.")
  static final class Policies extends Section {
    @Option(names = "--policy-namespace", description = "only the policies of this namespace")
    String namespace;

    @Override
    int render(JsonNode dump, Format format, PrintWriter out) throws IOException {
      ArrayNode items = filtered(dump, "policies",
          p -> namespace == null || namespace.equals(text(p, "namespace")));
      Table t = new Table("NAMESPACE", "POLICY NAME", "ACTION", "SCOPE");
      for (JsonNode p : items) {
        String action = text(p, "action");
        t.row(text(p, "namespace"), text(p, "name"),
            action.isEmpty() ? "" : action.charAt(0) + action.substring(1).toLowerCase(java.util.Locale.ROOT),
            text(p, "scope"));
      }
      return print(out, format, items, t);
    }
  }

  @Command(name = "certificates", aliases = {"certificate", "certs", "cert", "secret", "secrets"},
      mixinStandardHelpOptions = true,
      description = "The workload certificates: CERTIFICATE NAME, TYPE, STATUS, VALID CERT, SERIAL NUMBER, NOT AFTER, NOT BEFORE.")
  static final class Certificates extends Section {

    @Override
    int render(JsonNode dump, Format format, PrintWriter out) throws IOException {
      ArrayNode items = filtered(dump, "certificates", c -> true);
      Table t = new Table("CERTIFICATE NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER",
          "NOT AFTER", "NOT BEFORE");
      Instant now = Instant.now();
      for (JsonNode c : items) {
        String identity = text(c, "identity");
        String state = text(c, "state");
        List<JsonNode> chain = new ArrayList<>();
        c.path("certChain").forEach(chain::add);
        List<JsonNode> roots = new ArrayList<>();
        c.path("rootCerts").forEach(roots::add);
        if (chain.isEmpty()) {
          t.row(identity, "", state, "false", "", "", "");
          continue;
        }
        for (int i = 0; i < chain.size(); i++) {
          certificate(t, identity, i == 0 ? "Leaf" : "Intermediate", state, chain.get(i), now);
        }
        for (JsonNode root : roots) {
          certificate(t, identity, "Root", state, root, now);
        }
      }
      return print(out, format, items, t);
    }

    private static void certificate(Table t, String identity, String type, String state,
        JsonNode cert, Instant now) {
      String from = text(cert, "validFrom");
      String to = text(cert, "expirationTime");
      boolean valid = !from.isEmpty() && !to.isEmpty() && !now.isBefore(Instant.parse(from))
          && now.isBefore(Instant.parse(to));
      t.row(identity, type, state, Boolean.toString(valid), text(cert, "serialNumber"), to, from);
    }
  }

  @Command(name = "connections", aliases = {"connection", "conn", "cons"}, mixinStandardHelpOptions = true,
      description = "The connections the workloads of this node have open through ztunnel now:"
          + " WORKLOAD, DIRECTION, LOCAL, REMOTE, REMOTE TARGET, PROTOCOL.")
  static final class Connections extends Section {
    @Option(names = "--direction", paramLabel = "inbound|outbound", description = "only connections in this direction")
    Direction direction;
    @Option(names = "--workload", paramLabel = "NAME", description = "only the connections of this workload (pod name)")
    String workload;
    @Option(names = "--workload-namespace", description = "only the connections of workloads of this namespace")
    String namespace;

    enum Direction { INBOUND, OUTBOUND }

    /**
     * One row per open connection of {@code workloadState}: LOCAL is the workload's end (outbound:
     * its source socket; inbound: the address the connection arrived on), REMOTE the other end
     * (outbound: where ztunnel sends it; inbound: the client), REMOTE TARGET what the client asked
     * for (outbound: the address the app dialed; inbound: the service).
     */
    @Override
    int render(JsonNode dump, Format format, PrintWriter out) throws IOException {
      ArrayNode items = new ObjectMapper().createArrayNode();
      Table t = new Table("WORKLOAD", "DIRECTION", "LOCAL", "REMOTE", "REMOTE TARGET", "PROTOCOL");
      dump.path("workloadState").properties().forEach(entry -> {
        JsonNode info = entry.getValue().path("info");
        if ((workload != null && !workload.equals(text(info, "name")))
            || (namespace != null && !namespace.equals(text(info, "namespace")))) {
          return;
        }
        String name = text(info, "name") + "." + text(info, "namespace");
        for (Direction d : Direction.values()) {
          if (direction != null && direction != d) {
            continue;
          }
          String dir = d.name().toLowerCase(java.util.Locale.ROOT);
          for (JsonNode c : entry.getValue().path("connections").path(dir)) {
            boolean inbound = d == Direction.INBOUND;
            String local = text(c, inbound ? "actualDst" : "src");
            String remote = text(c, inbound ? "src" : "actualDst");
            t.row(name, dir.substring(0, 1).toUpperCase(java.util.Locale.ROOT) + dir.substring(1),
                local, remote, text(c, "originalDst"), text(c, "protocol"));
            items.addObject().put("workload", name).put("direction", dir).put("local", local)
                .put("remote", remote).put("remoteTarget", text(c, "originalDst"))
                .put("protocol", text(c, "protocol"));
          }
        }
      });
      return print(out, format, items, t);
    }
  }

  @Command(name = "log", mixinStandardHelpOptions = true,
      description = "Show ztunnel's log levels, or set them at runtime (its /logging endpoint).")
  static final class Log implements Callable<Integer> {
    @Spec CommandLine.Model.CommandSpec spec;

    @Option(names = "--admin", paramLabel = "HOST:PORT", defaultValue = "localhost:15000",
        description = "the ztunnel's admin address (default: ${DEFAULT-VALUE})")
    String admin;

    @Option(names = "--level", paramLabel = "LEVEL|SCOPE:LEVEL[,SCOPE:LEVEL…]",
        description = "set every scope to LEVEL (error, warn, info, debug, trace), or only the scopes named")
    String level;

    @Option(names = {"-r", "--reset"}, description = "set every scope back to info")
    boolean reset;

    @Override
    public Integer call() throws Exception {
      PrintWriter out = spec.commandLine().getOut();
      String query;
      if (reset) {
        query = "?level=info";
      } else if (level == null) {
        out.print(admin(admin, "GET", "/logging"));
        out.flush();
        return 0;
      } else if (!level.contains(":")) {
        query = "?level=" + level;
      } else {
        StringBuilder q = new StringBuilder();
        for (String scoped : level.split(",")) {
          int colon = scoped.indexOf(':');
          if (colon <= 0 || colon == scoped.length() - 1) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                "--level " + level + ": expected LEVEL or SCOPE:LEVEL[,SCOPE:LEVEL…], not '" + scoped + "'");
          }
          q.append(q.isEmpty() ? '?' : '&').append(scoped, 0, colon).append('=')
              .append(scoped.substring(colon + 1));
        }
        query = q.toString();
      }
      out.print(admin(admin, "POST", "/logging" + query));
      out.flush();
      return 0;
    }
  }

  @Command(name = "all", mixinStandardHelpOptions = true,
      description = "Workloads, services, policies, certificates and connections; with -o json or yaml, the whole dump (which -f reads back).")
  static final class All implements Callable<Integer> {
    @Spec CommandLine.Model.CommandSpec spec;
    @Mixin Source source = new Source();

    @Override
    public Integer call() throws Exception {
      JsonNode dump = source.dump();
      PrintWriter out = spec.commandLine().getOut();
      if (source.output != Format.SHORT) {
        return print(out, source.output, dump, null);
      }
      new Workloads().render(dump, Format.SHORT, out);
      out.println();
      new Services().render(dump, Format.SHORT, out);
      out.println();
      new Policies().render(dump, Format.SHORT, out);
      out.println();
      new Certificates().render(dump, Format.SHORT, out);
      out.println();
      return new Connections().render(dump, Format.SHORT, out);
    }
  }

  private static boolean contains(JsonNode array, String value) {
    for (JsonNode n : array) {
      if (value.equals(n.asText())) {
        return true;
      }
    }
    return false;
  }
}
