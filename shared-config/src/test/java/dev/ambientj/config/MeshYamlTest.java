package dev.ambientj.config;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

class MeshYamlTest {
  @Test
  void aMalformedDocumentIsReportedWithItsPositionAndTheOthersLoad() {
    String yaml =
        """
        apiVersion: v1
        kind: Namespace
        metadata:
          name: first
        ---
        apiVersion: v1
        kind: Namespace
        metadata:
          name: [broken
          labels: {}
        ---
        # a comment-only document is skipped
        ---
        apiVersion: v1
        kind: Namespace
        metadata:
          name: third
        """;
    MeshYaml.Result r = MeshYaml.load(yaml, "mesh.yaml");
    assertThat(r.objects())
        .extracting(o -> o.getMetadata().getName())
        .containsExactly("first", "third");
    assertThat(r.objects()).allSatisfy(o -> assertThat(o).isInstanceOf(Namespace.class));
    assertThat(r.errors())
        .singleElement()
        .satisfies(
            e -> {
              assertThat(e.source()).isEqualTo("mesh.yaml");
              assertThat(e.document()).isEqualTo(2);
              assertThat(e.line()).isBetween(9, 10);
              assertThat(e.column()).isPositive();
              assertThat(e.toString())
                  .startsWith(
                      "mesh.yaml:"
                          + e.line()
                          + ":"
                          + e.column()
                          + ": document 2: malformed YAML: ");
            });
  }

  @Test
  void badIndentationIsReportedOnItsLine() {
    String yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n    namespace: b\n";
    MeshYaml.Result r = MeshYaml.load(yaml, "x.yaml");
    assertThat(r.objects()).isEmpty();
    assertThat(r.errors()).singleElement().satisfies(e -> assertThat(e.line()).isEqualTo(5));
  }

  @Test
  void aDocumentThatIsNotAMappingIsAnError() {
    MeshYaml.Result r =
        MeshYaml.load(
            "- a\n- b\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: n\n", "x.yaml");
    assertThat(r.objects()).hasSize(1);
    assertThat(r.errors())
        .singleElement()
        .satisfies(
            e -> {
              assertThat(e.line()).isEqualTo(1);
              assertThat(e.message())
                  .startsWith(
                      "not a Kubernetes object (expected a mapping with apiVersion, kind and"
                          + " metadata");
            });
  }

  @Test
  void listsAreFlattenedAndUnknownKindsStayGeneric() {
    String yaml =
        """
        apiVersion: v1
        kind: List
        items:
        - apiVersion: v1
          kind: Pod
          metadata: {name: p, namespace: n}
        - apiVersion: example.com/v1
          kind: Widget
          metadata: {name: w, namespace: n}
        """;
    MeshYaml.Result r = MeshYaml.load(yaml, "x.yaml");
    assertThat(r.errors()).isEmpty();
    assertThat(r.objects()).hasSize(2);
    assertThat(r.objects().get(0)).isInstanceOf(Pod.class);
    assertThat(r.objects().get(1)).isInstanceOf(GenericKubernetesResource.class);
  }

  @Test
  void aSeparatorWithTrailingCommentAndWindowsLineEndingsAreHandled() {
    String yaml =
        "--- # first\r\n"
            + "apiVersion: v1\r\n"
            + "kind: Namespace\r\n"
            + "metadata:\r\n"
            + "  name: a\r\n"
            + "---\r\n"
            + "apiVersion: v1\r\n"
            + "kind: Namespace\r\n"
            + "metadata:\r\n"
            + "  name: b\r\n";
    assertThat(MeshYaml.load(yaml, "x").objects())
        .extracting(o -> o.getMetadata().getName())
        .containsExactly("a", "b");
  }

  @Test
  void everySeedExampleAndExampleLoadsWithoutErrorOrRejection() throws Exception {
    for (Path dir : new Path[] {Repo.seedExamples(), Repo.examples()}) {
      try (Stream<Path> files = Files.list(dir)) {
        for (Path f : files.filter(p -> p.toString().endsWith(".yaml")).toList()) {
          MeshYaml.Result r = MeshYaml.load(f);
          assertThat(r.errors()).as(f.toString()).isEmpty();
          assertThat(r.objects()).as(f.toString()).isNotEmpty();
          assertThat(new MeshTranslator().translate(r.objects()).rejections())
              .as(f.toString())
              .isEmpty();
        }
      }
    }
  }
}
