package dev.ambientj.config;

import static dev.ambientj.config.Yaml.pod;
import static dev.ambientj.config.Yaml.service;
import static dev.ambientj.config.Yaml.translate;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.model.MeshSnapshot;
import java.nio.file.Files;
import org.junit.jupiter.api.Test;

/** Each invalid object is rejected alone, with the exact operator line; the rest applies. */
class RejectionTest {
  private static final String GOOD = service("prod", "ok", "127.10.0.9", "ok");

  private static String rejectionOf(String yaml) {
    MeshSnapshot s = translate(yaml + "---\n" + GOOD);
    assertThat(s.findServiceByHostname("ok.prod.svc.cluster.local", ""))
        .as("the valid object still applies")
        .isPresent();
    assertThat(s.rejections()).hasSize(1);
    return s.rejections().get(0).toString();
  }

  private static String virtualService(String http) {
    return """
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata:
      name: vs
      namespace: prod
    spec:
      hosts: [ok]
      http:
    """
        + http;
  }

  @Test
  void missingName() {
    assertThat(
            rejectionOf(
                "apiVersion: v1\n"
                    + "kind: Service\n"
                    + "metadata:\n"
                    + "  namespace: prod\n"
                    + "spec:\n"
                    + "  ports: []\n"))
        .isEqualTo("Service prod/<unnamed>: metadata.name: missing (expected a name)");
  }

  @Test
  void servicePortOutOfRange() {
    assertThat(
            rejectionOf(
                service("prod", "bad", "127.10.0.1", "a")
                    .replace("port: 80", "port: 70000")
                    .replace("---\n", "")))
        .isEqualTo("Service prod/bad: spec.ports[0].port: 70000 (expected 1..65535)");
  }

  @Test
  void serviceTargetPortOutOfRange() {
    assertThat(
            rejectionOf(
                service("prod", "bad", "127.10.0.1", "a")
                    .replace("targetPort: 8080", "targetPort: 0")
                    .replace("---\n", "")))
        .isEqualTo(
            "Service prod/bad: spec.ports[0].targetPort: 0 (expected 1..65535 or a container port"
                + " name)");
  }

  @Test
  void badClusterIp() {
    assertThat(rejectionOf(service("prod", "bad", "10.0.0.300", "a").replace("---\n", "")))
        .isEqualTo(
            "Service prod/bad: spec.clusterIP: \"10.0.0.300\" is not an IP address (expected an"
                + " IPv4 or IPv6 address)");
  }

  @Test
  void badPodIp() {
    assertThat(rejectionOf(pod("prod", "p", "not-an-ip").replace("---\n", "")))
        .isEqualTo(
            "Pod prod/p: status.podIP: \"not-an-ip\" is not an IP address (expected an IPv4 or IPv6"
                + " address)");
  }

  @Test
  void routeWeightOutOfRange() {
    String vs =
        virtualService(
            """
              - route:
                - destination:
                    host: ok
                  weight: 105
                - destination:
                    host: ok
                  weight: -5
            """);
    assertThat(rejectionOf(vs))
        .isEqualTo("VirtualService prod/vs: spec.http[0].route[0].weight: 105 (expected 0..100)");
  }

  /**
   * Regexes are RE2 (Envoy's {@code safe_regex}, the waypoint's RE2/J): a backreference or a
   * lookahead, which only a backtracking engine can run, is rejected at config time, naming the
   * field; an RE2 regex is accepted.
   */
  @Test
  void regexThatRe2CannotRunIsRejected() {
    String vs =
        virtualService(
            """
              - match:
                - headers:
                    x-user:
                      regex: "%s"
                route:
                - destination:
                    host: ok
            """);
    assertThat(rejectionOf(vs.formatted("(a)\\\\1")))
        .startsWith("VirtualService prod/vs: spec.http[0].match[0].headers[x-user].regex: \"(a)\\1\" does not compile");
    assertThat(rejectionOf(vs.formatted("(?=admin).*")))
        .startsWith("VirtualService prod/vs: spec.http[0].match[0].headers[x-user].regex: \"(?=admin).*\" does not compile");
    assertThat(translate(vs.formatted("(a+)+b") + "---\n" + GOOD).rejections()).isEmpty();
  }

  @Test
  void badTimeout() {
    String vs =
        virtualService(
            """
              - timeout: 10 seconds
                route:
                - destination:
                    host: ok
            """);
    assertThat(rejectionOf(vs))
        .isEqualTo(
            "VirtualService prod/vs: spec.http[0].timeout: \"10 seconds\" is not a duration"
                + " (expected e.g. 10s or 500ms)");
  }

  @Test
  void routeWithoutDestinationHost() {
    String vs =
        virtualService(
            """
              - route:
                - destination:
                    subset: v1
            """);
    assertThat(rejectionOf(vs))
        .isEqualTo(
            "VirtualService prod/vs: spec.http[0].route[0].destination.host: missing (expected a"
                + " host such as payment-service)");
  }

  @Test
  void virtualServiceWithoutHosts() {
    assertThat(
            rejectionOf(
                "apiVersion: networking.istio.io/v1beta1\n"
                    + "kind: VirtualService\n"
                    + "metadata:\n"
                    + "  name: vs\n"
                    + "  namespace: prod\n"
                    + "spec: {}\n"))
        .isEqualTo("VirtualService prod/vs: spec.hosts: empty (expected at least one host)");
  }

  @Test
  void duplicateSubset() {
    String dr =
        """
        apiVersion: networking.istio.io/v1alpha3
        kind: DestinationRule
        metadata:
          name: dr
          namespace: prod
        spec:
          host: ok
          subsets:
          - name: v1
            labels: {version: v1}
          - name: v1
            labels: {version: v2}
        """;
    assertThat(rejectionOf(dr))
        .isEqualTo(
            "DestinationRule prod/dr: spec.subsets[1].name: \"v1\" is defined twice (expected"
                + " unique subset names)");
  }

  @Test
  void unknownPeerAuthenticationMode() {
    String pa =
        """
        apiVersion: security.istio.io/v1beta1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: prod
        spec:
          mtls:
            mode: STRICTEST
        """;
    assertThat(rejectionOf(pa))
        .isEqualTo(
            "PeerAuthentication prod/default: spec.mtls.mode: \"STRICTEST\" (expected STRICT,"
                + " PERMISSIVE, DISABLE or UNSET)");
  }

  @Test
  void unknownAuthorizationPolicyAction() {
    String ap =
        """
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: ap
          namespace: prod
        spec:
          action: PERMIT
        """;
    assertThat(rejectionOf(ap))
        .isEqualTo(
            "AuthorizationPolicy prod/ap: spec.action: \"PERMIT\" (expected ALLOW, DENY, AUDIT or"
                + " CUSTOM)");
  }

  /**
   * Issue 18: a malformed {@code ipBlocks} entry is rejected at config time, naming the object and
   * the field — and parsing it makes no DNS lookup (the old waypoint parser could resolve a
   * host name there).
   */
  @Test
  void malformedIpBlocksAreRejectedNamingTheFieldWithoutADnsLookup() throws Exception {
    try {
      java.net.InetAddress.getByName("resolver-probe.invalid");
    } catch (java.net.UnknownHostException expected) {
      // only the record matters
    }
    assertThat(RecordingResolverProvider.lookups()).as("the recording resolver is in use")
        .contains("resolver-probe.invalid");
    String ap =
        """
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: ap
          namespace: prod
        spec:
          action: ALLOW
          rules:
          - from:
            - source:
                principals: ["*"]
            - source:
                ipBlocks: ["10.0.0.0/8", "%s"]
        """;
    assertThat(rejectionOf(ap.formatted("payments.example.com")))
        .isEqualTo(
            "AuthorizationPolicy prod/ap: spec.rules[0].from[1].source.ipBlocks[1]:"
                + " \"payments.example.com\" is not an IP address or CIDR block (expected e.g."
                + " 10.0.0.0/16, 10.1.2.3 or fd00::/8)");
    assertThat(RecordingResolverProvider.lookups()).as("no DNS lookup of the malformed entry")
        .doesNotContain("payments.example.com");
    assertThat(rejectionOf(ap.formatted("10.0.0.300/8"))).contains("ipBlocks[1]: \"10.0.0.300/8\"");
    assertThat(rejectionOf(ap.formatted("10.0.0.0/33")))
        .endsWith("ipBlocks[1]: \"10.0.0.0/33\": the prefix length must be 0..32");
    assertThat(rejectionOf(ap.replace("ipBlocks", "remoteIpBlocks").formatted("fd00::/8x")))
        .contains("spec.rules[0].from[1].source.remoteIpBlocks[1]: \"fd00::/8x\"");
    assertThat(rejectionOf(ap.formatted("10.0.0.0/8").replace("    - source:\n        principals: [\"*\"]\n", "")
        + "    when:\n    - key: remote.ip\n      values: [\"300.1.1.1\"]\n"))
        .contains("spec.rules[0].when[0].values[0]: \"300.1.1.1\"");
    assertThat(translate(ap.formatted("fd00::/8") + "---\n" + GOOD).rejections()).isEmpty();
  }

  @Test
  void customAuthorizationNeedsAProvider() {
    String ap =
        """
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: ext
          namespace: prod
        spec:
          action: CUSTOM
        """;
    assertThat(rejectionOf(ap))
        .isEqualTo(
            "AuthorizationPolicy prod/ext: spec.provider: missing (expected a provider name with"
                + " action CUSTOM)");
    MeshSnapshot ok = translate(ap + "  provider:\n    name: ext-authz\n");
    assertThat(ok.rejections()).isEmpty();
    assertThat(ok.policies().authorizationPolicies()).hasSize(1);
  }

  @Test
  void documentStartingOnTheSeparatorLine() {
    MeshSnapshot s = translate("--- apiVersion: v1\nkind: Namespace\nmetadata:\n  name: inline\n");
    assertThat(s.rejections()).isEmpty();
  }

  @Test
  void authorizationPolicyWithSelectorAndTargetRefs() {
    String ap =
        """
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: ap
          namespace: prod
        spec:
          selector:
            matchLabels: {app: a}
          targetRefs:
          - kind: Service
            group: ""
            name: a
        """;
    assertThat(rejectionOf(ap))
        .isEqualTo(
            "AuthorizationPolicy prod/ap: spec.selector: set together with targetRefs (expected"
                + " only one of selector or targetRefs)");
  }

  @Test
  void envoyFilterOtherThanLocalRateLimitNamesTheField() throws Exception {
    String seed = Files.readString(Repo.seedExamples().resolve("payment.yaml"));
    String filter =
        seed.substring(seed.indexOf("apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter"));
    assertThat(rejectionOf(filter.replace("applyTo: HTTP_FILTER", "applyTo: CLUSTER")))
        .isEqualTo(
            "EnvoyFilter production/payment-ratelimit: spec.configPatches[0].applyTo: CLUSTER"
                + " (only the local rate limit filter is supported: expected HTTP_FILTER)");
    assertThat(
            rejectionOf(
                filter.replace(
                    "name: envoy.filters.http.local_ratelimit", "name: envoy.filters.http.lua")))
        .isEqualTo(
            "EnvoyFilter production/payment-ratelimit: spec.configPatches[0].patch.value.name:"
                + " envoy.filters.http.lua (only the local rate limit filter is supported: expected"
                + " envoy.filters.http.local_ratelimit)");
    assertThat(rejectionOf(filter.replace("max_tokens: 100", "max_tokens: 0")))
        .isEqualTo(
            "EnvoyFilter production/payment-ratelimit:"
                + " spec.configPatches[0].patch.value.typed_config.value.token_bucket.max_tokens: 0"
                + " (expected a positive integer)");
    assertThat(rejectionOf(filter.replace("fill_interval: 60s", "fill_interval: soon")))
        .isEqualTo(
            "EnvoyFilter production/payment-ratelimit:"
                + " spec.configPatches[0].patch.value.typed_config.value.token_bucket.fill_interval:"
                + " \"soon\" is not a duration (expected e.g. 10s or 500ms)");
    assertThat(
            rejectionOf(
                filter
                    .replace("context: SIDECAR_OUTBOUND", "x")
                    .replace("context: SIDECAR_INBOUND", "context: GATEWAY")))
        .isEqualTo(
            "EnvoyFilter production/payment-ratelimit: spec.configPatches[0].match.context: GATEWAY"
                + " (only the local rate limit filter is supported: expected SIDECAR_INBOUND or"
                + " ANY)");
  }

  @Test
  void unknownKind() {
    assertThat(
            rejectionOf(
                "apiVersion: networking.istio.io/v1\n"
                    + "kind: ServiceEntry\n"
                    + "metadata:\n"
                    + "  name: ext\n"
                    + "  namespace: prod\n"))
        .startsWith(
            "ServiceEntry prod/ext: kind: ServiceEntry (networking.istio.io/v1) is not supported by"
                + " ambientj (expected one of Namespace,");
  }

  @Test
  void unservedApiVersion() {
    assertThat(
            rejectionOf(
                "apiVersion: networking.istio.io/v2\n"
                    + "kind: VirtualService\n"
                    + "metadata:\n"
                    + "  name: vs\n"
                    + "  namespace: prod\n"))
        .isEqualTo(
            "VirtualService prod/vs: apiVersion: networking.istio.io/v2 is not served for"
                + " VirtualService (expected networking.istio.io/v1, networking.istio.io/v1beta1,"
                + " networking.istio.io/v1alpha3)");
  }

  @Test
  void waypointWithoutHboneListener() {
    String gw =
        Yaml.waypoint("prod", "wp", null)
            .replace("protocol: HBONE", "protocol: HTTP")
            .replace("---\n", "");
    assertThat(rejectionOf(gw))
        .isEqualTo(
            "Gateway prod/wp: spec.listeners: no HBONE listener on port 15008"
                + " (expected {name: mesh, port: 15008, protocol: HBONE})");
  }

  @Test
  void fieldOfTheWrongType() {
    assertThat(
            rejectionOf(
                service("prod", "bad", "127.10.0.1", "a")
                    .replace("port: 80", "port: eighty")
                    .replace("---\n", "")))
        .isEqualTo("Service prod/bad: spec.ports[0].port: \"eighty\" (expected an integer)");
  }

  @Test
  void aLaterDefinitionReplacesAnEarlierOne() {
    MeshSnapshot s =
        translate(
            service("prod", "a", "127.10.0.1", "a") + service("prod", "a", "127.10.0.2", "a"));
    assertThat(s.services())
        .singleElement()
        .satisfies(svc -> assertThat(svc.vips()).hasToString("[/127.10.0.2]"));
    assertThat(s.rejections())
        .extracting(Object::toString)
        .containsExactly(
            "Service prod/a: metadata.name: defined again later; the later definition applies");
  }
}
