package dev.ambientj.config.analyze;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.ambientj.config.MeshTranslator;
import dev.ambientj.config.MeshYaml;
import dev.ambientj.config.cli.MeshCommandLine;
import dev.ambientj.config.cli.MeshVersion;
import dev.ambientj.config.kubernetes.KubernetesConfigSource;
import dev.ambientj.config.model.ConfigRejection;
import dev.ambientj.config.model.MeshSnapshot;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import java.util.stream.Stream;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * Entry point of {@code ./mesh analyze FILE...}: loads the files as one mesh and prints one line
 * per finding on stdout, like {@code istioctl analyze}; or, with {@code --kubernetes}, the live
 * cluster (with the files applied over it).
 *
 * <p>Exit codes: 0 when there is no Warning or Error (Info lines may be printed), 1 when there is
 * at least one, 2 on a usage error or an unreadable file.
 */
@Command(name = "analyze", mixinStandardHelpOptions = true, sortOptions = false,
    versionProvider = MeshVersion.class, usageHelpAutoWidth = true,
    description = {
        "Checks mesh configuration (Kubernetes YAML: Namespaces, Pods, Services, Istio and Gateway"
            + " API objects) as one mesh, the way istioctl analyze does, and prints one line per"
            + " finding:",
        "  Error|Warning|Info [CODE] Kind namespace/name: field.path: message",
        "Codes are istioctl's where one exists (IST0101 reference not found, IST0106 schema"
            + " validation, ...), else ambientj's own (AMB0xxx). A directory stands for the *.yaml"
            + " and *.yml files in it."},
    footerHeading = "%n",
    footer = "Exit status: 0 no warnings or errors, 1 warnings or errors found, 2 usage error, an"
        + " unreadable file or an unreachable cluster.")
public final class AnalyzeCommand implements Callable<Integer> {
  /** What {@code -o} prints. */
  enum Format { LOG, JSON, YAML }

  @Spec CommandSpec spec;

  @Option(names = {"--kubernetes", "-k"}, order = 1,
      description = "analyze the cluster of the current kubeconfig (or the pod's service account);"
          + " FILEs given too are analyzed as if applied to it")
  boolean kubernetes;

  @Option(names = {"--output", "-o"}, paramLabel = "FMT", order = 2,
      description = "log (default), json or yaml: a list of {code, level, origin, kind, namespace,"
          + " name, field, message, documentationUrl}")
  Format format = Format.LOG;

  @Option(names = {"--suppress", "-S"}, paramLabel = "CODE=RESOURCE", order = 3,
      description = "leave out a code for an object: \"IST0101=VirtualService reviews.prod\""
          + " (istioctl's Kind name.namespace), \"Kind namespace/name\" or \"Kind/namespace/name\";"
          + " * matches any characters; repeatable. The annotation"
          + " galley.istio.io/analyze-suppress: CODE[,CODE] on an object does the same.")
  List<String> suppress = new ArrayList<>();

  @Option(names = {"--verbose", "-v"}, order = 4,
      description = "also print, as Info [AMB0100] lines, where each waypoint and policy takes effect")
  boolean verbose;

  @Parameters(paramLabel = "FILE|DIR", arity = "0..*", description = "mesh YAML files or directories")
  List<Path> inputs = new ArrayList<>();

  private final PrintStream out;
  private final PrintStream err;
  private final Supplier<KubernetesClient> cluster;

  private AnalyzeCommand(PrintStream out, PrintStream err, Supplier<KubernetesClient> cluster) {
    this.out = out;
    this.err = err;
    this.cluster = cluster;
  }

  /** The command line of {@code mesh analyze} against the cluster of the current kubeconfig. */
  public static CommandLine commandLine() {
    return commandLine(System.out, System.err, () -> new KubernetesClientBuilder().build());
  }

  private static CommandLine commandLine(PrintStream out, PrintStream err,
      Supplier<KubernetesClient> cluster) {
    return MeshCommandLine.create(new AnalyzeCommand(out, err, cluster), "analyze")
        .setOut(new PrintWriter(out, true)).setErr(new PrintWriter(err, true));
  }

  /** Runs the subcommand; returns the process exit code. */
  public static int run(String[] args) {
    return commandLine().execute(args);
  }

  static int run(String[] args, PrintStream out, PrintStream err) {
    return run(args, out, err, () -> new KubernetesClientBuilder().build());
  }

  /**
   * Runs the subcommand with {@code cluster} as the source of the Kubernetes client for {@code
   * --kubernetes} (closed here after use).
   */
  static int run(String[] args, PrintStream out, PrintStream err,
      Supplier<KubernetesClient> cluster) {
    return commandLine(out, err, cluster).execute(args);
  }

  @Override
  public Integer call() {
    List<Path> files = new ArrayList<>();
    for (Path p : inputs) {
      String a = p.toString();
      if (Files.isDirectory(p)) {
        try (Stream<Path> s = Files.list(p)) {
          s.filter(f -> f.toString().endsWith(".yaml") || f.toString().endsWith(".yml"))
              .sorted()
              .forEach(files::add);
        } catch (IOException e) {
          err.println("mesh analyze: cannot list " + a + ": " + e.getMessage());
          return 2;
        }
      } else if (!Files.isRegularFile(p)) {
        err.println("mesh analyze: " + a + ": no such file");
        return 2;
      } else {
        files.add(p);
      }
    }
    if (files.isEmpty() && !kubernetes) {
      throw new ParameterException(spec.commandLine(), "no files to analyze");
    }
    Suppressions suppressions;
    try {
      suppressions = Suppressions.parse(suppress);
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage());
    }
    List<HasMetadata> objects = new ArrayList<>();
    if (kubernetes) {
      try (KubernetesClient client = cluster.get()) {
        KubernetesConfigSource.Listing listing = KubernetesConfigSource.list(client);
        objects.addAll(listing.objects());
        for (var missing : listing.missing()) {
          err.println("mesh analyze: " + missing + " is not served by the cluster (is its CRD"
              + " installed?); analyzing without " + missing.plural());
        }
      } catch (RuntimeException e) {
        err.println("mesh analyze: cannot read the cluster: " + e.getMessage());
        return 2;
      }
    }
    List<MeshYaml.YamlError> yamlErrors = new ArrayList<>();
    List<ConfigRejection> fileProblems = new ArrayList<>();
    List<HasMetadata> fromFiles = new ArrayList<>();
    for (Path f : files) {
      try {
        MeshYaml.Result r = MeshYaml.load(f);
        fromFiles.addAll(r.objects());
        yamlErrors.addAll(r.errors());
        r.emptiness(f.toString()).ifPresent(fileProblems::add);
      } catch (IOException e) {
        err.println("mesh analyze: cannot read " + f + ": " + e.getMessage());
        return 2;
      }
    }
    // A file's object stands for the cluster's version of it, as if applied.
    Set<String> inFiles = new HashSet<>();
    fromFiles.forEach(o -> inFiles.add(MeshTranslator.keyOf(o)));
    objects.removeIf(o -> inFiles.contains(MeshTranslator.keyOf(o)));
    objects.addAll(fromFiles);
    MeshSnapshot snapshot = new MeshTranslator().translate(objects, fileProblems);
    List<Finding> findings = new ArrayList<>(MeshAnalyzer.analyze(yamlErrors, objects, snapshot));
    if (verbose) {
      findings.addAll(MeshAnalyzer.applied(snapshot));
    }
    Suppressions active = suppressions.withAnnotationsOf(objects);
    findings.removeIf(active::suppresses);
    boolean problems = findings.stream().anyMatch(Finding::isProblem);
    switch (format) {
      case JSON, YAML -> {
        try {
          ObjectMapper mapper = format == Format.JSON ? new ObjectMapper() : new YAMLMapper();
          out.print(mapper.writerWithDefaultPrettyPrinter()
              .writeValueAsString(findings.stream().map(Finding::toMap).toList()));
          out.println();
        } catch (JsonProcessingException e) {
          throw new IllegalStateException("findings cannot be written as " + format.name().toLowerCase(java.util.Locale.ROOT), e);
        }
      }
      default -> findings.forEach(out::println);
    }
    if (!problems) {
      err.println("\u2714 No validation issues found when analyzing "
          + describe(files, kubernetes) + ".");
    }
    out.flush();
    return problems ? 1 : 0;
  }

  private static String describe(List<Path> files, boolean kubernetes) {
    String f = files.isEmpty() ? "" : files.size() == 1 ? files.get(0).toString()
        : files.size() + " files";
    return kubernetes ? (f.isEmpty() ? "the cluster" : "the cluster and " + f) : f;
  }
}
