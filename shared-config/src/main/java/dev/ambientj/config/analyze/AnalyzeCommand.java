package dev.ambientj.config.analyze;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.ambientj.config.MeshTranslator;
import dev.ambientj.config.MeshYaml;
import dev.ambientj.config.kubernetes.KubernetesConfigSource;
import dev.ambientj.config.model.ConfigRejection;
import dev.ambientj.config.model.MeshSnapshot;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * Entry point of {@code ./mesh analyze FILE...}: loads the files as one mesh and prints one line
 * per finding on stdout, like {@code istioctl analyze}; or, with {@code --kubernetes}, the live
 * cluster (with the files applied over it).
 *
 * <p>Exit codes: 0 when there is no Warning or Error (Info lines may be printed), 1 when there is
 * at least one, 2 on a usage error or an unreadable file.
 */
public final class AnalyzeCommand {
  static final String USAGE =
      """
      Usage: mesh analyze [--kubernetes] [-o log|json|yaml] [--suppress CODE=RESOURCE]...
                          [--verbose] [--help] [FILE|DIR...]

      Checks mesh configuration (Kubernetes YAML: Namespaces, Pods, Services, Istio and Gateway API
      objects) as one mesh, the way istioctl analyze does, and prints one line per finding:
        Error|Warning|Info [CODE] Kind namespace/name: field.path: message
      Codes are istioctl's where one exists (IST0101 reference not found, IST0106 schema
      validation, ...), else ambientj's own (AMB0xxx). A directory stands for the *.yaml and *.yml
      files in it.

        --kubernetes, -k   analyze the cluster of the current kubeconfig (or the pod's service
                           account); FILEs given too are analyzed as if applied to it
        -o, --output FMT   log (default), json or yaml: a list of {code, level, origin, kind,
                           namespace, name, field, message, documentationUrl}
        -S, --suppress CODE=RESOURCE
                           leave out a code for an object: "IST0101=VirtualService reviews.prod"
                           (istioctl's Kind name.namespace), "Kind namespace/name" or
                           "Kind/namespace/name"; * matches any characters; repeatable. The
                           annotation galley.istio.io/analyze-suppress: CODE[,CODE] on an object
                           does the same.
        --verbose, -v      also print, as Info [AMB0100] lines, where each waypoint and policy
                           takes effect

      Exit status: 0 no warnings or errors, 1 warnings or errors found, 2 usage error, an
      unreadable file or an unreachable cluster.
      """;

  private AnalyzeCommand() {}

  /** Runs the subcommand; returns the process exit code. */
  public static int run(String[] args) {
    return run(args, System.out, System.err, () -> new KubernetesClientBuilder().build());
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
    List<Path> files = new ArrayList<>();
    List<String> suppress = new ArrayList<>();
    boolean endOfOptions = false;
    boolean verbose = false;
    boolean kubernetes = false;
    String format = "log";
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (!endOfOptions && a.startsWith("-") && a.length() > 1) {
        String value = null;
        int eq = a.indexOf('=');
        String option = a.startsWith("--") && eq > 0 ? a.substring(0, eq) : a;
        if (a.startsWith("--") && eq > 0) {
          value = a.substring(eq + 1);
        }
        switch (option) {
          case "--help", "-h" -> {
            out.print(USAGE);
            return 0;
          }
          case "--verbose", "-v" -> verbose = true;
          case "--kubernetes", "-k" -> kubernetes = true;
          case "--" -> endOfOptions = true;
          case "--output", "-o", "--suppress", "-S" -> {
            if (value == null) {
              if (i + 1 == args.length) {
                return usage(err, option + " needs a value");
              }
              value = args[++i];
            }
            if (option.equals("--output") || option.equals("-o")) {
              if (!List.of("log", "json", "yaml").contains(value)) {
                return usage(err, "unknown output format " + value + " (expected log, json or yaml)");
              }
              format = value;
            } else {
              suppress.add(value);
            }
          }
          default -> {
            return usage(err, "unknown option " + a);
          }
        }
        continue;
      }
      Path p = Path.of(a);
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
      return usage(err, "no files to analyze");
    }
    Suppressions suppressions;
    try {
      suppressions = Suppressions.parse(suppress);
    } catch (IllegalArgumentException e) {
      return usage(err, e.getMessage());
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
      case "json", "yaml" -> {
        try {
          ObjectMapper mapper = format.equals("json") ? new ObjectMapper() : new YAMLMapper();
          out.print(mapper.writerWithDefaultPrettyPrinter()
              .writeValueAsString(findings.stream().map(Finding::toMap).toList()));
          out.println();
        } catch (JsonProcessingException e) {
          throw new IllegalStateException("findings cannot be written as " + format, e);
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

  private static int usage(PrintStream err, String problem) {
    err.println("mesh analyze: " + problem);
    err.print(USAGE);
    return 2;
  }

  private static String describe(List<Path> files, boolean kubernetes) {
    String f = files.isEmpty() ? "" : files.size() == 1 ? files.get(0).toString()
        : files.size() + " files";
    return kubernetes ? (f.isEmpty() ? "the cluster" : "the cluster and " + f) : f;
  }
}
