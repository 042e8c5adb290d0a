package dev.ambientj.config.analyze;

import static dev.ambientj.config.analyze.AnalyzeCommandTest.analyze;
import static dev.ambientj.config.analyze.AnalyzeCommandTest.analyzeWithCluster;
import static dev.ambientj.config.analyze.AnalyzeCommandTest.examples;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.ambientj.config.MeshYaml;
import dev.ambientj.config.analyze.AnalyzeCommandTest.Run;
import dev.ambientj.config.kubernetes.MockCluster;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code -o json|yaml}, {@code --suppress} and its annotation, {@code --kubernetes}. */
@EnableKubernetesMockClient(crud = true)
class AnalyzeOptionsTest {
  @TempDir Path dir;
  KubernetesClient client;

  /** The examples with payment-service's subset v2 renamed in the route: one IST0101 finding. */
  private Path[] missingSubset() throws Exception {
    Path f = dir.resolve("payment-policies.yaml");
    Files.writeString(f, Files.readString(examples().resolve("payment-policies.yaml"))
        .replace("subset: v2", "subset: v3"));
    return new Path[] {examples().resolve("mesh.yaml"), f};
  }

  private static final String MISSING_SUBSET_MESSAGE = "subset \"v3\" of host payment-service is"
      + " not defined by any DestinationRule (requests to it get 503)";

  private Run analyzeWith(Path[] files, String... options) {
    String[] args = new String[options.length + files.length];
    System.arraycopy(options, 0, args, 0, options.length);
    for (int i = 0; i < files.length; i++) {
      args[options.length + i] = files[i].toString();
    }
    return analyze(args);
  }

  @Test
  void jsonAndYamlOutputCarryEachFindingsFields() throws Exception {
    Run json = analyzeWith(missingSubset(), "-o", "json");
    assertThat(json.exit()).isEqualTo(1);
    JsonNode list = new ObjectMapper().readTree(String.join("\n", json.lines()));
    assertThat(list.isArray()).isTrue();
    assertThat(list).hasSize(1);
    JsonNode f = list.get(0);
    assertThat(f.path("code").asText()).isEqualTo("IST0101");
    assertThat(f.path("level").asText()).isEqualTo("Error");
    assertThat(f.path("origin").asText()).isEqualTo("VirtualService production/payment-service");
    assertThat(f.path("kind").asText()).isEqualTo("VirtualService");
    assertThat(f.path("namespace").asText()).isEqualTo("production");
    assertThat(f.path("name").asText()).isEqualTo("payment-service");
    assertThat(f.path("field").asText()).isEqualTo("spec.http[1].route[1].destination.subset");
    assertThat(f.path("message").asText()).isEqualTo(MISSING_SUBSET_MESSAGE);
    assertThat(f.path("documentationUrl").asText())
        .isEqualTo("https://istio.io/latest/docs/reference/config/analysis/ist0101/");

    Run yaml = analyzeWith(missingSubset(), "--output=yaml");
    assertThat(yaml.exit()).isEqualTo(1);
    assertThat(new YAMLMapper().readTree(String.join("\n", yaml.lines()))).isEqualTo(list);

    Run clean = analyze("-o", "json", examples().toString());
    assertThat(clean.exit()).isZero();
    assertThat(new ObjectMapper().readTree(String.join("\n", clean.lines()))).isEmpty();
    assertThat(analyze("-o", "xml", examples().toString()).exit()).isEqualTo(2);
  }

  @Test
  void suppressTakesIstioctlsSpellingOursAndWildcards() throws Exception {
    for (String resource : List.of("VirtualService payment-service.production",
        "VirtualService production/payment-service", "virtualservice/production/payment-service",
        "VirtualService *.production", "*payment*")) {
      Run r = analyzeWith(missingSubset(), "--suppress", "IST0101=" + resource);
      assertThat(r.lines()).as(resource).isEmpty();
      assertThat(r.exit()).as(resource).isZero();
    }
    for (String other : List.of("IST0102=VirtualService payment-service.production",
        "IST0101=VirtualService payment-service.staging", "IST0101=DestinationRule *")) {
      assertThat(analyzeWith(missingSubset(), "-S", other).exit()).as(other).isEqualTo(1);
    }
    Run bad = analyzeWith(missingSubset(), "--suppress", "IST0101");
    assertThat(bad.exit()).isEqualTo(2);
    assertThat(bad.err()).contains("--suppress IST0101: expected CODE=RESOURCE");
  }

  @Test
  void theSuppressAnnotationOnAnObjectSuppressesItsCodes() throws Exception {
    Path[] files = missingSubset();
    Files.writeString(files[1], Files.readString(files[1]).replaceFirst(
        "name: payment-service\n  namespace: production\n",
        "name: payment-service\n  namespace: production\n  annotations:\n"
            + "    galley.istio.io/analyze-suppress: IST0109,IST0101\n"));
    Run r = analyzeWith(files);
    assertThat(r.lines()).isEmpty();
    assertThat(r.exit()).isZero();
  }

  /** Writes every object of the files the Kubernetes source watches into the mock cluster. */
  private void applyToCluster(Path... files) throws Exception {
    for (Path f : files) {
      MeshYaml.Result r = MeshYaml.load(f);
      assertThat(r.errors()).isEmpty();
      for (HasMetadata o : r.objects()) {
        if (MockCluster.isWatched(o)) {
          MockCluster.create(client, o);
        }
      }
    }
  }

  private Run analyzeCluster(String... args) {
    // A client of its own per run, as the command closes the one it is given.
    return analyzeWithCluster(args,
        () -> new KubernetesClientBuilder().withConfig(client.getConfiguration()).build());
  }

  @Test
  void kubernetesAnalyzesTheLiveClusterAndFilesAppliedOverIt() throws Exception {
    Path[] broken = missingSubset();
    applyToCluster(broken);

    Run live = analyzeCluster("--kubernetes");
    assertThat(live.lines()).containsExactly("Error [IST0101] VirtualService"
        + " production/payment-service: spec.http[1].route[1].destination.subset: "
        + MISSING_SUBSET_MESSAGE);
    assertThat(live.exit()).isEqualTo(1);

    // The fixed file, applied over the cluster: its VirtualService replaces the cluster's.
    Run fixed = analyzeCluster("-k", examples().resolve("payment-policies.yaml").toString());
    assertThat(fixed.lines()).isEmpty();
    assertThat(fixed.exit()).isZero();
    assertThat(fixed.err()).contains("No validation issues found when analyzing the cluster and");
  }

  @Test
  void kubernetesReadsIstioObjectsAsWrittenSoUnknownFieldsAreFound() throws Exception {
    Path f = dir.resolve("policies.yaml");
    Files.writeString(f, Files.readString(examples().resolve("payment-policies.yaml"))
        .replace("        http2MaxRequests: 1000\n",
            "        http2MaxRequests: 1000\n        consecutiveGatewayErrors: 5\n"));
    applyToCluster(examples().resolve("mesh.yaml"), f);
    assertThat(analyzeCluster("--kubernetes").lines()).containsExactly(
        "Error [IST0106] DestinationRule production/payment-service:"
            + " spec.trafficPolicy.connectionPool.http.consecutiveGatewayErrors: unknown field"
            + " (did you mean spec.trafficPolicy.outlierDetection.consecutiveGatewayErrors?);"
            + " ignored");
  }

  @Test
  void anUnreachableClusterIsExitTwoNamingTheProblem() {
    Run r = analyzeWithCluster(new String[] {"--kubernetes"}, () -> new KubernetesClientBuilder()
        .withConfig(new io.fabric8.kubernetes.client.ConfigBuilder()
            .withMasterUrl("https://127.0.0.1:1").withRequestRetryBackoffLimit(0).build())
        .build());
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.err()).contains("mesh analyze: cannot read the cluster: cannot list namespaces");
  }
}
