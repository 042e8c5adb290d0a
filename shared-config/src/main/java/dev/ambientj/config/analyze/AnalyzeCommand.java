package dev.ambientj.config.analyze;

import dev.ambientj.config.MeshTranslator;
import dev.ambientj.config.MeshYaml;
import dev.ambientj.config.model.ConfigRejection;
import dev.ambientj.config.model.MeshSnapshot;
import io.fabric8.kubernetes.api.model.HasMetadata;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Entry point of {@code ./mesh analyze FILE...}: loads the files as one mesh and prints one line
 * per finding on stdout, like {@code istioctl analyze}.
 *
 * <p>Exit codes: 0 when there is no Warning or Error (Info lines may be printed), 1 when there is
 * at least one, 2 on a usage error or an unreadable file.
 */
public final class AnalyzeCommand {
  static final String USAGE =
      """
      Usage: mesh analyze [--verbose] [--help] FILE|DIR...

      Checks mesh configuration (Kubernetes YAML: Namespaces, Pods, Services, Istio and Gateway API
      objects) as one mesh, the way istioctl analyze does, and prints one line per finding:
        Error|Warning|Info [CODE] Kind namespace/name: field.path: message
      A directory stands for the *.yaml and *.yml files in it. --verbose (-v) also prints, as Info
      [AMB0100] lines, where each waypoint and policy takes effect.

      Exit status: 0 no warnings or errors, 1 warnings or errors found, 2 usage error.
      """;

  private AnalyzeCommand() {}

  /** Runs the subcommand; returns the process exit code. */
  public static int run(String[] args) {
    return run(args, System.out, System.err);
  }

  static int run(String[] args, PrintStream out, PrintStream err) {
    List<Path> files = new ArrayList<>();
    boolean endOfOptions = false;
    boolean verbose = false;
    for (String a : args) {
      if (!endOfOptions && (a.equals("--help") || a.equals("-h"))) {
        out.print(USAGE);
        return 0;
      }
      if (!endOfOptions && (a.equals("--verbose") || a.equals("-v"))) {
        verbose = true;
        continue;
      }
      if (!endOfOptions && a.equals("--")) {
        endOfOptions = true;
        continue;
      }
      if (!endOfOptions && a.startsWith("-") && a.length() > 1) {
        err.println("mesh analyze: unknown option " + a);
        err.print(USAGE);
        return 2;
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
    if (files.isEmpty()) {
      err.println("mesh analyze: no files to analyze");
      err.print(USAGE);
      return 2;
    }
    List<HasMetadata> objects = new ArrayList<>();
    List<MeshYaml.YamlError> yamlErrors = new ArrayList<>();
    List<ConfigRejection> fileProblems = new ArrayList<>();
    for (Path f : files) {
      try {
        MeshYaml.Result r = MeshYaml.load(f);
        objects.addAll(r.objects());
        yamlErrors.addAll(r.errors());
        r.emptiness(f.toString()).ifPresent(fileProblems::add);
      } catch (IOException e) {
        err.println("mesh analyze: cannot read " + f + ": " + e.getMessage());
        return 2;
      }
    }
    MeshSnapshot snapshot = new MeshTranslator().translate(objects, fileProblems);
    List<Finding> findings = new ArrayList<>(MeshAnalyzer.analyze(yamlErrors, objects, snapshot));
    if (verbose) {
      findings.addAll(MeshAnalyzer.applied(snapshot));
    }
    boolean problems = false;
    for (Finding f : findings) {
      out.println(f);
      problems |= f.isProblem();
    }
    if (!problems) {
      err.println("\u2714 No validation issues found when analyzing " + describe(files) + ".");
    }
    out.flush();
    return problems ? 1 : 0;
  }

  private static String describe(List<Path> files) {
    return files.size() == 1 ? files.get(0).toString() : files.size() + " files";
  }
}
