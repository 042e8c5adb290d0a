package dev.ambientj.config;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.fabric8.istio.api.security.v1.PeerAuthentication;
import java.util.List;
import org.junit.jupiter.api.Test;

class UnknownFieldsTest {
  private static List<UnknownFields.Found> find(String yaml, boolean withTree) throws Exception {
    JsonNode tree = new YAMLMapper().readTree(yaml);
    PeerAuthentication typed = MeshYaml.SERIALIZATION.convertValue(tree, PeerAuthentication.class);
    return UnknownFields.find(withTree ? tree : null, typed);
  }

  private static final String PA = """
      apiVersion: security.istio.io/v1
      kind: PeerAuthentication
      metadata: {name: strict, namespace: production}
      spec:
        selector:
          matchLabels: {app: payment-service}
        mtls: {mode: STRICT}
        portLevelMtls:
          "8080": {mode: PERMISSIVE}
      status: {anything: goes}
      """;

  @Test
  void aCleanObjectHasNone() throws Exception {
    assertThat(find(PA, true)).isEmpty();
  }

  @Test
  void findsUnknownFieldsAtAnyDepthWithTheirPathThroughMapsAndLists() throws Exception {
    assertThat(find(PA.replace("{mode: PERMISSIVE}", "{mdoe: PERMISSIVE}")
            .replace("  mtls:", "  mtlss: 1\n  mtls:")
            .replace("metadata: {name: strict,", "metadata: {nmae: x, name: strict,"), false))
        .extracting(UnknownFields.Found::path)
        .containsExactlyInAnyOrder("metadata.nmae", "spec.mtlss", "spec.portLevelMtls[8080].mdoe");
  }

  @Test
  void saysWhatWasExpectedWhereTheModelKnowsIt() throws Exception {
    assertThat(find(PA.replace("{mode: STRICT}", "{mode: STRICT, strict: true}"), false))
        .singleElement().satisfies(f -> {
          assertThat(f.path()).isEqualTo("spec.mtls.strict");
          assertThat(f.problem()).isEqualTo("unknown field (expected mode)");
          assertThat(f.dropped()).isFalse();
        });
  }
}
