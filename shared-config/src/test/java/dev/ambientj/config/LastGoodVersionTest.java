package dev.ambientj.config;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.model.ConfigRejection;
import dev.ambientj.config.model.MeshSnapshot;
import io.fabric8.istio.api.security.v1.AuthorizationPolicy;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * One {@link MeshTranslator} fed version after version, as a source does: per object, the last
 * good version stays in force when a new one is refused; unknown fields are strict in the security
 * kinds; regexes are compiled here.
 */
class LastGoodVersionTest {
  private final MeshTranslator translator = new MeshTranslator();

  private MeshSnapshot apply(String yaml) {
    MeshYaml.Result r = MeshYaml.load(yaml, "policies.yaml");
    assertThat(r.errors()).isEmpty();
    return translator.translate(r.objects());
  }

  static String policy(String name, String spec) {
    return """
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: %s
          namespace: production
        spec:
        %s---
        """.formatted(name, spec.indent(2));
  }

  static final String ONLY_GATEWAY = policy("payment-access", """
      selector:
        matchLabels:
          app: payment-service
      rules:
      - from:
        - source:
            principals: ["cluster.local/ns/production/sa/api-gateway"]
      """);

  private static List<String> principalsOf(MeshSnapshot s) {
    AuthorizationPolicy p = s.policies().authorizationPolicies().stream()
        .filter(a -> a.getMetadata().getName().equals("payment-access")).findFirst().orElseThrow();
    return p.getSpec().getRules().get(0).getFrom().get(0).getSource().getPrincipals();
  }

  private MeshSnapshot applyBadAfterGood(String bad) {
    apply(ONLY_GATEWAY);
    MeshSnapshot s = apply(bad);
    assertThat(principalsOf(s)).as("the version in force stays")
        .containsExactly("cluster.local/ns/production/sa/api-gateway");
    assertThat(s.rejections()).hasSize(1);
    assertThat(s.rejections().get(0).previousInForce()).isTrue();
    return s;
  }

  @Test
  void aTypoInAFieldNameRejectsThePolicyAndKeepsTheVersionInForce() {
    MeshSnapshot s = applyBadAfterGood(ONLY_GATEWAY.replace("- from:", "- fromm:"));
    assertThat(s.rejections().get(0).report()).isEqualTo(
        "AuthorizationPolicy production/payment-access: spec.rules[0].fromm: unknown field"
            + " (did you mean spec.rules[0].from?) (rejected; keeping the version in force)");
  }

  @Test
  void aStringWhereAListIsExpectedIsRejected() {
    assertThat(applyBadAfterGood(ONLY_GATEWAY.replace(
            "principals: [\"cluster.local/ns/production/sa/api-gateway\"]",
            "principals: \"cluster.local/ns/production/sa/orders\"")).rejections().get(0))
        .hasToString("AuthorizationPolicy production/payment-access:"
            + " spec.rules[0].from[0].source.principals:"
            + " \"cluster.local/ns/production/sa/orders\" (expected a list)");
    assertThat(applyBadAfterGood(policy("payment-access", "rules: \"x\"\n")).rejections().get(0))
        .hasToString("AuthorizationPolicy production/payment-access: spec.rules: \"x\""
            + " (expected a list)");
  }

  @Test
  void anUnknownActionIsRejected() {
    assertThat(applyBadAfterGood(ONLY_GATEWAY.replace("  selector:", "  action: ALOW\n  selector:"))
            .rejections().get(0))
        .hasToString("AuthorizationPolicy production/payment-access: spec.action: \"ALOW\""
            + " (expected ALLOW, DENY, AUDIT or CUSTOM)");
  }

  @Test
  void aFieldTheModelDropsIsFoundToo() {
    // provider is a oneof read by a custom deserializer, which drops its unknown siblings
    assertThat(applyBadAfterGood(ONLY_GATEWAY.replace("  selector:",
            "  action: CUSTOM\n  provider:\n    name: ext\n  bogus: 1\n  selector:")).rejections().get(0))
        .hasToString("AuthorizationPolicy production/payment-access: spec.bogus: unknown field"
            + " (expected one of provider, action, rules, selector, targetRef, targetRefs)");
  }

  @Test
  void aKindTypoKeepsTheObjectOfThatNameInForce() {
    MeshSnapshot s = applyBadAfterGood(
        ONLY_GATEWAY.replace("kind: AuthorizationPolicy", "kind: AuthorizationPolicyy"));
    assertThat(s.rejections().get(0).field()).isEqualTo("kind");
  }

  @Test
  void aNewObjectThatFailsIsNotAppliedAndAValidDeletionDeletes() {
    MeshSnapshot s = apply(ONLY_GATEWAY.replace("- from:", "- fromm:"));
    assertThat(s.policies().authorizationPolicies()).isEmpty();
    assertThat(s.rejections()).singleElement().satisfies(r -> {
      assertThat(r.previousInForce()).isFalse();
      assertThat(r.report()).endsWith("(rejected; not applied)");
    });

    apply(ONLY_GATEWAY);
    MeshSnapshot deleted = apply("");
    assertThat(deleted.policies().authorizationPolicies()).as("deleted").isEmpty();
    assertThat(deleted.rejections()).isEmpty();
    MeshSnapshot badAfterDeletion = apply(ONLY_GATEWAY.replace("- from:", "- fromm:"));
    assertThat(badAfterDeletion.policies().authorizationPolicies())
        .as("a deleted version is forgotten, not revived").isEmpty();
  }

  @Test
  void aValidNewVersionReplacesTheOneInForce() {
    apply(ONLY_GATEWAY);
    MeshSnapshot s = apply(ONLY_GATEWAY.replace("sa/api-gateway", "sa/orders"));
    assertThat(principalsOf(s)).containsExactly("cluster.local/ns/production/sa/orders");
    assertThat(s.rejections()).isEmpty();
  }

  @Test
  void anUnknownFieldInOtherKindsIsAWarningAndTheObjectApplies() {
    MeshSnapshot s = apply("""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: vs
          namespace: production
        spec:
          hosts: [payment-service]
          http:
          - route:
            - destination:
                host: payment-service
              wieght: 100
        """);
    assertThat(s.rejections()).isEmpty();
    assertThat(s.policies().virtualServices()).hasSize(1);
    assertThat(s.warnings()).singleElement().asString()
        .startsWith("VirtualService production/vs: spec.http[0].route[0].wieght: unknown field")
        .endsWith("; ignored");
  }

  @Test
  void aRegexThatDoesNotCompileIsARejectionNamingTheField() {
    String route = """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: vs
          namespace: production
        spec:
          hosts: [payment-service]
          http:
          - match:
            - uri:
                regex: "/v1/.*"
            route:
            - destination:
                host: payment-service
                subset: v1
        """;
    assertThat(apply(route).rejections()).isEmpty();
    MeshSnapshot s = apply(route.replace("\"/v1/.*\"", "\"(\""));
    assertThat(s.rejections()).singleElement().satisfies(r -> {
      assertThat(r.toString()).startsWith(
          "VirtualService production/vs: spec.http[0].match[0].uri.regex: \"(\" does not compile:");
      assertThat(r.previousInForce()).isTrue();
    });
    assertThat(s.policies().virtualServices()).singleElement()
        .satisfies(vs -> assertThat(vs.getSpec().getHttp().get(0).getMatch().get(0).getUri()
            .toString()).contains("/v1/.*"));
  }

  @Test
  void gatewayApiRegexesAreCompiledToo() {
    MeshSnapshot s = apply("""
        apiVersion: gateway.networking.k8s.io/v1
        kind: HTTPRoute
        metadata:
          name: hr
          namespace: production
        spec:
          parentRefs:
          - {group: "", kind: Service, name: payment-service, port: 80}
          rules:
          - matches:
            - headers: [{type: RegularExpression, name: x-user, value: "[a-"}]
            backendRefs:
            - {name: payment-service, port: 8080}
        """);
    assertThat(s.rejections()).singleElement().asString().startsWith(
        "HTTPRoute production/hr: spec.rules[0].matches[0].headers[0].value: \"[a-\" does not"
            + " compile:");
  }

  @Test
  void anInvalidWeightOrPortKeepsTheRouteInForce() {
    String route = """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: vs
          namespace: production
        spec:
          hosts: [payment-service]
          http:
          - route:
            - destination:
                host: payment-service
                subset: v1
                port:
                  number: 8080
              weight: 100
        """;
    apply(route);
    for (String bad : List.of(route.replace("weight: 100", "weight: -5"),
        route.replace("number: 8080", "number: \"abc\""))) {
      MeshSnapshot s = apply(bad);
      ConfigRejection r = s.rejections().get(0);
      assertThat(r.previousInForce()).as(r.toString()).isTrue();
      assertThat(s.policies().virtualServices()).singleElement().satisfies(vs -> assertThat(
          vs.getSpec().getHttp().get(0).getRoute().get(0).getWeight()).isEqualTo(100));
    }
    assertThat(apply(route.replace("weight: 100", "weight: -5")).rejections().get(0))
        .hasToString("VirtualService production/vs: spec.http[0].route[0].weight: -5"
            + " (expected 0..100)");
  }
}
