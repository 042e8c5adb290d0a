package dev.ambientj.config.xds;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.MeshTranslator;
import dev.ambientj.config.MeshYaml;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Service;
import dev.ambientj.config.model.Workload;
import io.fabric8.kubernetes.api.model.HasMetadata;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The example mesh plus L4 policies that ztunnel enforces, and comparison helpers. */
final class Meshes {
  private Meshes() {}

  /** Policies of every scope, using every L4 attribute; the examples only have a waypoint one. */
  static final String ZTUNNEL_POLICIES =
      """
      apiVersion: security.istio.io/v1
      kind: AuthorizationPolicy
      metadata: {name: deny-blocked, namespace: istio-system}
      spec:
        action: DENY
        rules:
        - from:
          - source: {ipBlocks: ["127.0.66.0/24"]}
      ---
      apiVersion: security.istio.io/v1
      kind: AuthorizationPolicy
      metadata: {name: production-only, namespace: production}
      spec:
        rules:
        - from:
          - source: {namespaces: ["production"]}
          - source: {principals: ["cluster.local/ns/legacy/sa/*"], notPrincipals: ["*/sa/bad"]}
      ---
      apiVersion: security.istio.io/v1
      kind: AuthorizationPolicy
      metadata: {name: orders-port, namespace: production}
      spec:
        selector: {matchLabels: {app: orders}}
        rules:
        - from:
          - source: {principals: ["cluster.local/ns/production/sa/api-gateway"]}
          to:
          - operation: {ports: ["8080"]}
          when:
          - key: destination.ip
            notValues: ["127.0.9.0/24"]
        - to:
          - operation: {ports: ["9090"], methods: ["GET"]}
      """;

  static Path examples() {
    Path dir = Path.of("").toAbsolutePath();
    while (dir != null && !Files.isDirectory(dir.resolve("examples"))) {
      dir = dir.getParent();
    }
    assertThat(dir).as("examples/ above the working directory").isNotNull();
    return dir.resolve("examples");
  }

  /** examples/mesh.yaml + examples/payment-policies.yaml + {@link #ZTUNNEL_POLICIES}. */
  static String exampleYaml() throws IOException {
    return Files.readString(examples().resolve("mesh.yaml")) + "\n---\n"
        + Files.readString(examples().resolve("payment-policies.yaml")) + "\n---\n"
        + ZTUNNEL_POLICIES;
  }

  static MeshSnapshot translate(String yaml) {
    MeshYaml.Result r = MeshYaml.load(yaml, "test.yaml");
    assertThat(r.errors()).isEmpty();
    List<HasMetadata> objects = new ArrayList<>(r.objects());
    MeshSnapshot s = new MeshTranslator().translate(objects);
    assertThat(s.rejections()).isEmpty();
    return s;
  }

  /** A workload without the decoder's synthetic authorization labels. */
  static Workload withoutSyntheticLabels(Workload w) {
    Map<String, String> labels = new LinkedHashMap<>();
    w.labels().forEach((k, v) -> {
      if (!k.startsWith(WdsDecoder.AUTHZ_LABEL_PREFIX)) {
        labels.put(k, v);
      }
    });
    return new Workload(w.uid(), w.name(), w.namespace(), w.serviceAccount(), w.trustDomain(),
        w.node(), w.addresses(), labels, w.enrolled(), w.protocol(), w.waypoint(), w.healthy(),
        w.workloadName(), w.canonicalName(), w.canonicalRevision(), w.annotations());
  }

  /** Asserts that {@code actual} has the data-path content of {@code expected} (not L7 objects). */
  static void assertSameDataPath(MeshSnapshot actual, MeshSnapshot expected) {
    assertThat(actual.trustDomain()).isEqualTo(expected.trustDomain());
    assertThat(actual.workloads().stream().map(Meshes::withoutSyntheticLabels).toList())
        .containsExactlyInAnyOrderElementsOf(expected.workloads());
    assertThat(actual.services().stream().map(Meshes::sortedEndpoints).toList())
        .containsExactlyInAnyOrderElementsOf(
            expected.services().stream().map(Meshes::sortedEndpoints).toList());
    assertThat(actual.waypoints()).containsExactlyInAnyOrderElementsOf(expected.waypoints());
    assertThat(actual.nodes()).containsExactlyInAnyOrderElementsOf(expected.nodes());
  }

  /** Asserts that {@code actual} has the policy objects of {@code expected}. */
  static void assertSamePolicies(MeshSnapshot actual, MeshSnapshot expected) {
    var a = actual.policies();
    var e = expected.policies();
    assertThat(a.virtualServices()).containsExactlyInAnyOrderElementsOf(e.virtualServices());
    assertThat(a.destinationRules()).containsExactlyInAnyOrderElementsOf(e.destinationRules());
    assertThat(a.authorizationPolicies())
        .containsExactlyInAnyOrderElementsOf(e.authorizationPolicies());
    assertThat(a.peerAuthentications())
        .containsExactlyInAnyOrderElementsOf(e.peerAuthentications());
    assertThat(a.httpRoutes()).containsExactlyInAnyOrderElementsOf(e.httpRoutes());
    assertThat(a.grpcRoutes()).containsExactlyInAnyOrderElementsOf(e.grpcRoutes());
    assertThat(a.localRateLimits()).containsExactlyInAnyOrderElementsOf(e.localRateLimits());
    assertThat(a.telemetries()).containsExactlyInAnyOrderElementsOf(e.telemetries());
  }

  private static Service sortedEndpoints(Service s) {
    return new Service(s.name(), s.namespace(), s.hostname(), s.vips(), s.ports(),
        s.endpoints().stream()
            .sorted(java.util.Comparator.comparing(e -> e.workloadUid())).toList(),
        s.waypoint());
  }
}
