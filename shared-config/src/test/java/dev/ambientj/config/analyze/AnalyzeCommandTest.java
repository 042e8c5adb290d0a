package dev.ambientj.config.analyze;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AnalyzeCommandTest {
  @TempDir Path dir;

  record Run(int exit, List<String> lines, String err) {}

  static Run analyze(String... args) {
    return analyzeWithCluster(args, () -> {
      throw new AssertionError("no cluster in this test");
    });
  }

  /** Runs {@code mesh analyze} with {@code cluster} as the client for {@code --kubernetes}. */
  static Run analyzeWithCluster(String[] args,
      java.util.function.Supplier<io.fabric8.kubernetes.client.KubernetesClient> cluster) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int exit =
        AnalyzeCommand.run(
            args,
            new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8),
            cluster);
    String text = out.toString(StandardCharsets.UTF_8);
    return new Run(
        exit,
        text.isEmpty() ? List.of() : List.of(text.split("\n")),
        err.toString(StandardCharsets.UTF_8));
  }

  static Path root() {
    Path d = Path.of("").toAbsolutePath();
    while (!Files.isDirectory(d.resolve("examples"))) {
      d = d.getParent();
    }
    return d;
  }

  static Path examples() {
    return root().resolve("examples");
  }

  static Path seeds() {
    return root().getParent().resolve("shared/seed-examples");
  }

  /** The example mesh plus extra YAML, analyzed together. */
  Run withMesh(String extra) throws Exception {
    Path f = dir.resolve("extra.yaml");
    Files.writeString(f, extra);
    return analyze(
        examples().resolve("mesh.yaml").toString(),
        examples().resolve("payment-policies.yaml").toString(),
        f.toString());
  }

  static final String VS_HEAD =
      """
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata:
        name: payment-service
        namespace: production
      spec:
        hosts:
        - payment-service
        http:
      """;

  @Test
  void theExamplesAreClean() throws Exception {
    List<String> args = new ArrayList<>();
    try (Stream<Path> s = Files.list(examples())) {
      s.filter(p -> p.toString().endsWith(".yaml")).sorted().forEach(p -> args.add(p.toString()));
    }
    Run r = analyze(args.toArray(String[]::new));
    assertThat(r.lines()).isEmpty();
    assertThat(r.exit()).isZero();
    assertThat(r.err()).contains("No validation issues found");
    assertThat(analyze(examples().toString()).exit())
        .as("a directory means its YAML files")
        .isZero();
  }

  @Test
  void aRouteToAMissingSubsetNamesTheObjectTheRouteAndTheSubset() throws Exception {
    Path f = dir.resolve("bad.yaml");
    String policies = Files.readString(examples().resolve("payment-policies.yaml"));
    Files.writeString(f, policies.replace("subset: v2", "subset: v3"));
    Run r = analyze(examples().resolve("mesh.yaml").toString(), f.toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.lines())
        .containsExactly(
            "Error [IST0101] VirtualService production/payment-service:"
                + " spec.http[1].route[1].destination.subset: subset \"v3\" of host payment-service"
                + " is not defined by any DestinationRule (requests to it get 503)");
  }

  @Test
  void rejectedObjectsAndMalformedYaml() throws Exception {
    Run r =
        withMesh(
            """
            apiVersion: v1
            kind: Service
            metadata:
              name: bad
              namespace: production
            spec:
              ports:
              - port: 0
            ---
            key: [unclosed
            """);
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.lines()).hasSize(2);
    assertThat(r.lines().get(0))
        .matches("Error \\[AMB0002\\] .*extra\\.yaml:10:\\d+: document 2: malformed YAML: .*");
    assertThat(r.lines().get(1))
        .isEqualTo(
            "Error [IST0106] Service production/bad: spec.ports[0].port: 0 (expected"
                + " 1..65535)");
  }

  @Test
  void aRouteToAnUnknownHostAndItsSubsetAreEachReported() throws Exception {
    Path f = dir.resolve("p.yaml");
    Files.writeString(
        f,
        Files.readString(examples().resolve("payment-policies.yaml"))
            .replaceFirst("(?s)(- name: canary.*?host: )payment-service", "$1payments"));
    Run r = analyze(examples().resolve("mesh.yaml").toString(), f.toString());
    assertThat(r.lines())
        .containsExactly(
            "Error [IST0101] VirtualService production/payment-service:"
                + " spec.http[1].route[0].destination.host: host payments matches no Service"
                + " (expected name, name.namespace or name.namespace.svc.cluster.local)",
            "Error [IST0101] VirtualService production/payment-service:"
                + " spec.http[1].route[0].destination.subset: subset \"v1\" of host payments is not"
                + " defined by any DestinationRule (requests to it get 503)");
    assertThat(r.exit()).isEqualTo(1);
  }

  @Test
  void weightsThatDoNotSumTo100() throws Exception {
    Path f = dir.resolve("p.yaml");
    Files.writeString(
        f,
        Files.readString(examples().resolve("payment-policies.yaml"))
            .replace("weight: 5", "weight: 15"));
    Run r = analyze(examples().resolve("mesh.yaml").toString(), f.toString());
    assertThat(r.lines())
        .containsExactly(
            "Warning [AMB0103] VirtualService production/payment-service: spec.http[1].route:"
                + " weights sum to 110 (expected 100)");
    assertThat(r.exit()).isEqualTo(1);
  }

  @Test
  void twoVirtualServicesForOneHost() throws Exception {
    Run r =
        withMesh(
            VS_HEAD.replace("name: payment-service\n  namespace", "name: second\n  namespace")
                + """
                  - route:
                    - destination:
                        host: payment-service.production.svc.cluster.local
                """);
    assertThat(r.lines())
        .containsExactly(
            "Warning [IST0109] VirtualService production/second: spec.hosts[0]: host"
                + " payment-service is also routed by VirtualService production/payment-service;"
                + " only one VirtualService per host applies (expected one VirtualService per host:"
                + " merge their routes)");
    assertThat(r.exit()).isEqualTo(1);
  }

  @Test
  void aVirtualServiceForAServiceWithoutWaypointHasNoEffect() throws Exception {
    Run r =
        withMesh(
            VS_HEAD.replace("payment-service", "orders")
                + """
                  - route:
                    - destination:
                        host: orders
                """);
    assertThat(r.lines())
        .containsExactly(
            "Warning [AMB0108] VirtualService production/orders: spec.hosts[0]: no effect in"
                + " ambient mode: Service production/orders has no waypoint, and only waypoints"
                + " apply HTTP routing (label the Service istio.io/use-waypoint)");
  }

  @Test
  void aDestinationRuleForAServiceWithoutWaypointHasNoEffect() throws Exception {
    Run r =
        withMesh(
            """
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata:
              name: legacy-web
              namespace: legacy
            spec:
              host: legacy-web
            ---
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata:
              name: ghost
              namespace: legacy
            spec:
              host: ghost.legacy.svc.cluster.local
            """);
    assertThat(r.lines())
        .containsExactly(
            "Warning [AMB0108] DestinationRule legacy/legacy-web: spec.host: no effect in ambient"
                + " mode: Service legacy/legacy-web has no waypoint, and only waypoints apply"
                + " subsets, load balancing, connection pools and outlier detection (label the"
                + " Service istio.io/use-waypoint)",
            "Warning [IST0101] DestinationRule legacy/ghost: spec.host: host"
                + " ghost.legacy.svc.cluster.local matches no Service; the DestinationRule has no"
                + " effect");
  }

  @Test
  void gatewayApiRoutes() throws Exception {
    Run r =
        withMesh(
            """
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata:
              name: orders
              namespace: production
            spec:
              parentRefs:
              - kind: Service
                group: ""
                name: orders
              rules:
              - backendRefs:
                - name: orders
                  port: 80
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: GRPCRoute
            metadata:
              name: payments
              namespace: production
            spec:
              parentRefs:
              - name: payment-waypoint
              rules:
              - backendRefs:
                - name: payment-grpc
                  port: 9090
            ---
            apiVersion: gateway.networking.k8s.io/v1beta1
            kind: HTTPRoute
            metadata:
              name: ingress
              namespace: production
            spec:
              parentRefs:
              - name: public-gateway
                namespace: istio-system
            """);
    assertThat(r.lines())
        .containsExactly(
            "Warning [AMB0108] HTTPRoute production/orders: spec.parentRefs[0]: no effect in"
                + " ambient mode: Service production/orders has no waypoint, and only waypoints"
                + " apply HTTP routing (label the Service istio.io/use-waypoint)",
            "Info [AMB0105] HTTPRoute production/ingress: spec.parentRefs[0]: not applicable to"
                + " ambient mode: Gateway istio-system/public-gateway is not a waypoint (routes for"
                + " ingress gateways are not part of the ambient data plane)",
            "Error [IST0101] GRPCRoute production/payments: spec.rules[0].backendRefs[0]: Service"
                + " production/payment-grpc does not exist (requests routed to it fail)");
    assertThat(r.exit()).isEqualTo(1);
  }

  @Test
  void useWaypointNamingAMissingOrUnsuitableWaypoint() throws Exception {
    Run r =
        withMesh(
            """
            apiVersion: v1
            kind: Namespace
            metadata:
              name: shop
              labels:
                istio.io/use-waypoint: shop-waypoint
            ---
            apiVersion: v1
            kind: Pod
            metadata:
              name: client-0
              namespace: production
              labels:
                istio.io/use-waypoint: payment-waypoint
            status:
              podIP: 127.0.1.99
            """);
    assertThat(r.lines())
        .containsExactly(
            "Warning [AMB0104] Namespace shop: metadata.labels[istio.io/use-waypoint]: waypoint"
                + " shop/shop-waypoint does not exist; traffic is not sent to a waypoint (expected"
                + " a Gateway of class istio-waypoint named shop-waypoint in namespace shop)",
            "Warning [AMB0106] Pod production/client-0: metadata.labels[istio.io/use-waypoint]:"
                + " waypoint production/payment-waypoint is for service traffic, so the Pod is not"
                + " bound to it (expected istio.io/waypoint-for: workload or all on the Gateway)");
    assertThat(r.exit()).isEqualTo(1);
  }

  @Test
  void anAuthorizationPolicyWhoseSelectorMatchesNothing() throws Exception {
    Run r =
        withMesh(
            """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: nobody
              namespace: production
            spec:
              selector:
                matchLabels:
                  app: paymnet-service
            """);
    assertThat(r.lines())
        .containsExactly(
            "Warning [IST0127] AuthorizationPolicy production/nobody: spec.selector: matches no"
                + " workload in namespace production (labels {app=paymnet-service}); the policy has"
                + " no effect");
  }

  @Test
  void aSelectorPolicyOnWorkloadsBehindAWaypointSeesTheWaypointIdentity() throws Exception {
    String seed = Files.readString(seeds().resolve("payment.yaml"));
    String policy =
        seed.substring(
            seed.indexOf("apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy"));
    policy =
        policy
            .substring(0, policy.indexOf("---"))
            .replace("name: payment-access", "name: seed-access");
    Run r = withMesh(policy);
    assertThat(r.lines())
        .singleElement()
        .asString()
        .startsWith(
            "Warning [AMB0107] AuthorizationPolicy production/seed-access: spec.selector: selects"
                + " payment-v1-0, reached through waypoint production/payment-waypoint for Service"
                + " payment-service:")
        .endsWith(
            "(expected targetRefs: [{kind: Service, group: \"\", name: payment-service}] so the"
                + " waypoint enforces it)");
  }

  @Test
  void l7FieldsInAPolicyEnforcedByZtunnelSuggestAWaypoint() throws Exception {
    String policy =
        """
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: orders-get-only
          namespace: production
        spec:
          selector:
            matchLabels:
              app: orders
          rules:
          - to:
            - operation:
                methods: ["GET"]
        """;
    Run r = withMesh(policy);
    assertThat(r.lines())
        .singleElement()
        .asString()
        .startsWith(
            "Warning [AMB0110] AuthorizationPolicy production/orders-get-only: spec.rules: uses L7"
                + " attributes")
        .contains("the rule never matches")
        .contains("no waypoint serves orders-0")
        .endsWith("(expected: deploy a waypoint and attach the policy with targetRefs to its"
            + " Service or Gateway)");
  }

  @Test
  void aRateLimitOnWorkloadsWithoutWaypoint() throws Exception {
    String seed = Files.readString(seeds().resolve("payment.yaml"));
    String filter =
        seed.substring(seed.indexOf("apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter"))
            .replace("name: payment-ratelimit", "name: orders-ratelimit")
            .replace("app: payment-service", "app: orders");
    Run r = withMesh(filter);
    assertThat(r.lines())
        .containsExactly(
            "Warning [AMB0108] EnvoyFilter production/orders-ratelimit: spec.workloadSelector: no"
                + " effect in ambient mode: none of the selected workloads is behind a waypoint,"
                + " and local rate limits are applied by waypoints");
  }

  @Test
  void verboseSaysWhereEachPolicyApplies() {
    Run r = analyze("--verbose", examples().toString());
    assertThat(r.exit()).isZero();
    assertThat(r.lines())
        .containsExactly(
            "Info [AMB0100] Gateway production/payment-waypoint: applies: waypoint for service"
                + " traffic, identity spiffe://cluster.local/ns/production/sa/payment-waypoint,"
                + " addresses [127.0.1.30]",
            "Info [AMB0100] VirtualService production/payment-service: applies: routes"
                + " payment-service at waypoint production/payment-waypoint",
            "Info [AMB0100] DestinationRule production/payment-service: applies: traffic policy and"
                + " subsets for payment-service applied at waypoint production/payment-waypoint",
            "Info [AMB0100] AuthorizationPolicy production/payment-access: applies: ALLOW enforced"
                + " by the waypoint of its targetRefs",
            "Info [AMB0100] PeerAuthentication production/default: applies: mTLS STRICT for"
                + " namespace production: ztunnel refuses plaintext to enrolled workloads",
            "Info [AMB0100] EnvoyFilter production/payment-ratelimit: applies: local rate limit 100"
                + " requests per 60s (burst 100) at waypoint(s) [production/payment-waypoint]");
  }

  @Test
  void usage() throws Exception {
    assertThat(analyze().exit()).isEqualTo(2);
    assertThat(analyze().err()).contains("no files to analyze").contains("Usage: mesh analyze");
    Run unknown = analyze("--frobnicate", "x.yaml");
    assertThat(unknown.exit()).isEqualTo(2);
    assertThat(unknown.err()).contains("Unknown option: '--frobnicate'");
    Run help = analyze("--help");
    assertThat(help.exit()).isZero();
    assertThat(String.join("\n", help.lines())).contains("Usage: mesh analyze");
    Run missing = analyze(dir.resolve("nope.yaml").toString());
    assertThat(missing.exit()).isEqualTo(2);
    assertThat(missing.err()).contains("nope.yaml: no such file");
  }

  @Test
  void reportsWhatAProxyLoadingTheSameFilesReportsForTheSameObject() throws Exception {
    Path mesh = examples().resolve("mesh.yaml");
    Path policies = dir.resolve("policies.yaml");
    Files.writeString(policies, """
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: payment-access
          namespace: production
        spec:
          selector:
            matchLabels:
              app: payment-service
          rules:
          - fromm:
            - source:
                principals: ["cluster.local/ns/production/sa/api-gateway"]
        """);
    var publisher = new dev.ambientj.config.SnapshotPublisher();
    try (var source = dev.ambientj.config.FileConfigSource.start(List.of(mesh, policies),
        publisher)) {
      var rejection = publisher.snapshot().rejections().getFirst();
      assertThat(rejection.toString()).startsWith(
          "AuthorizationPolicy production/payment-access: spec.rules[0].fromm: unknown field");
      Run r = analyze(mesh.toString(), policies.toString());
      assertThat(r.exit()).isEqualTo(1);
      assertThat(r.lines()).contains("Error [IST0106] " + rejection);
    }
  }

  @Test
  void anEmptyFileIsReportedAsTheFileSourceReportsIt() throws Exception {
    Path empty = dir.resolve("empty.yaml");
    Files.writeString(empty, "# nothing yet\n");
    Run r = analyze(examples().resolve("mesh.yaml").toString(), empty.toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.lines()).anyMatch(l -> l.startsWith("Error [AMB0002] " + empty + ": empty"));
  }
}
