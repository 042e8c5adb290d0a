package dev.ambientj.config;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.fabric8.istio.api.networking.v1.DestinationRule;
import io.fabric8.istio.api.networking.v1.VirtualService;
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

  private static List<UnknownFields.Found> find(String yaml, Class<?> type) throws Exception {
    JsonNode tree = new YAMLMapper().readTree(yaml);
    return UnknownFields.find(tree, MeshYaml.SERIALIZATION.convertValue(tree, type));
  }

  private static final String DR = """
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: payment-service, namespace: production}
      spec:
        host: payment-service
        trafficPolicy:
          connectionPool:
            http:
              http1MaxPendingRequests: 100
          outlierDetection:
            interval: 10s
        subsets:
        - name: v1
          labels: {version: v1}
      """;

  @Test
  void aMisplacedFieldNamesWhereAFieldOfThatNameBelongs() throws Exception {
    String misplaced = DR.replace("      http1MaxPendingRequests: 100",
        "      http1MaxPendingRequests: 100\n        consecutiveGatewayErrors: 5");
    assertThat(find(misplaced, DestinationRule.class)).singleElement().satisfies(f -> {
      assertThat(f.path())
          .isEqualTo("spec.trafficPolicy.connectionPool.http.consecutiveGatewayErrors");
      assertThat(f.problem()).isEqualTo("unknown field (did you mean"
          + " spec.trafficPolicy.outlierDetection.consecutiveGatewayErrors?)");
    });
  }

  private static final String VS_HEAD = """
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: payment-service, namespace: production}
      spec:
        hosts: [payment-service]
        http:
      """;

  @Test
  void aMisplacedFieldInAListKeepsTheIndicesItShares() throws Exception {
    // subset belongs to a route's destination, not to the route itself
    String vs = VS_HEAD + """
          - route:
            - destination: {host: payment-service}
          - route:
            - destination: {host: payment-service}
              subset: v2
        """;
    assertThat(find(vs, VirtualService.class)).singleElement().satisfies(f -> {
      assertThat(f.path()).isEqualTo("spec.http[1].route[0].subset");
      assertThat(f.problem())
          .isEqualTo("unknown field (did you mean spec.http[1].route[0].destination.subset?)");
    });
  }

  @Test
  void aMisspeltFieldNamesTheNearestFieldBesideIt() throws Exception {
    assertThat(find(DR.replace("interval: 10s", "intervall: 10s"), DestinationRule.class))
        .singleElement().satisfies(f -> assertThat(f.problem()).isEqualTo(
            "unknown field (did you mean spec.trafficPolicy.outlierDetection.interval?)"));
  }

  @Test
  void aFieldBesideAnIstioOneofIsFoundWithTheOneofsFieldsExpected() throws Exception {
    // StringMatch is a oneof (exact, prefix, regex) read by a deserializer that drops the rest
    String vs = VS_HEAD + """
          - match:
            - uri: {prefix: /api, suffix: /v2}
            route:
            - destination: {host: payment-service}
        """;
    assertThat(find(vs, VirtualService.class)).singleElement().satisfies(f -> {
      assertThat(f.path()).isEqualTo("spec.http[0].match[0].uri.suffix");
      assertThat(f.dropped()).isTrue();
      assertThat(f.problem()).isEqualTo("unknown field (expected one of exact, prefix, regex)");
    });
  }
}
