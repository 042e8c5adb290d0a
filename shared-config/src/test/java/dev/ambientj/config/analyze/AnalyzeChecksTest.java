package dev.ambientj.config.analyze;

import static dev.ambientj.config.analyze.AnalyzeCommandTest.analyze;
import static dev.ambientj.config.analyze.AnalyzeCommandTest.examples;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.analyze.AnalyzeCommandTest.Run;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The checks istioctl makes that ambientj makes too (schema, references each on their own, rule
 * order, subsets without pods), and the ambient ones istioctl lacks, each on the demo mesh of
 * {@code examples/} with one object added or changed.
 */
class AnalyzeChecksTest {
  @TempDir Path dir;

  /** An extra file that adds nothing (an empty file would be reported as such). */
  private static final String NOTHING = "{apiVersion: v1, kind: List, items: []}\n";

  /** The example mesh and policies, with {@code extra} added. */
  private Run withMesh(String extra) throws Exception {
    return withMesh(Files.readString(examples().resolve("mesh.yaml")), extra);
  }

  /** {@code mesh} (the example mesh, maybe edited), the example policies and {@code extra}. */
  private Run withMesh(String mesh, String extra) throws Exception {
    Path m = dir.resolve("mesh.yaml");
    Files.writeString(m, mesh);
    Path f = dir.resolve("extra.yaml");
    Files.writeString(f, extra);
    return analyze(m.toString(), examples().resolve("payment-policies.yaml").toString(),
        f.toString());
  }

  private Run withPolicies(String from, String to) throws Exception {
    Path f = dir.resolve("payment-policies.yaml");
    String policies = Files.readString(examples().resolve("payment-policies.yaml"));
    assertThat(policies).contains(from);
    Files.writeString(f, policies.replace(from, to));
    return analyze(examples().resolve("mesh.yaml").toString(), f.toString());
  }

  @Test
  void aMisplacedFieldIsASchemaErrorNamingItsPathAndWhereItBelongs() throws Exception {
    Run r = withPolicies("        http2MaxRequests: 1000\n",
        "        http2MaxRequests: 1000\n        consecutiveGatewayErrors: 5\n");
    assertThat(r.lines()).containsExactly(
        "Error [IST0106] DestinationRule production/payment-service:"
            + " spec.trafficPolicy.connectionPool.http.consecutiveGatewayErrors: unknown field"
            + " (did you mean spec.trafficPolicy.outlierDetection.consecutiveGatewayErrors?);"
            + " ignored");
    assertThat(r.exit()).isEqualTo(1);
  }

  @Test
  void aProxyLoadingTheSameFilesLogsTheSameFindingAndIgnoresTheField() throws Exception {
    Path policies = dir.resolve("payment-policies.yaml");
    Files.writeString(policies, Files.readString(examples().resolve("payment-policies.yaml"))
        .replace("        http2MaxRequests: 1000\n",
            "        http2MaxRequests: 1000\n        consecutiveGatewayErrors: 5\n"));
    Path mesh = examples().resolve("mesh.yaml");
    var publisher = new dev.ambientj.config.SnapshotPublisher();
    try (var source =
        dev.ambientj.config.FileConfigSource.start(List.of(mesh, policies), publisher)) {
      var snapshot = publisher.snapshot();
      assertThat(snapshot.rejections()).isEmpty();
      assertThat(snapshot.policies().destinationRules()).as("applied, the field ignored")
          .singleElement().satisfies(dr -> assertThat(
              dr.getSpec().getTrafficPolicy().getOutlierDetection().getConsecutiveGatewayErrors())
              .isNull());
      var warning = snapshot.warnings().getFirst();
      assertThat(warning.toString()).isEqualTo("DestinationRule production/payment-service:"
          + " spec.trafficPolicy.connectionPool.http.consecutiveGatewayErrors: unknown field"
          + " (did you mean spec.trafficPolicy.outlierDetection.consecutiveGatewayErrors?);"
          + " ignored");
      assertThat(analyze(mesh.toString(), policies.toString()).lines())
          .containsExactly("Error [IST0106] " + warning);
    }
  }

  @Test
  void anUnknownFieldIsASchemaErrorListingWhatIsAcceptedThere() throws Exception {
    Run r = withPolicies("      maxEjectionPercent: 50\n",
        "      maxEjectionPercent: 50\n      ejectAll: true\n");
    assertThat(r.lines()).singleElement().asString()
        .startsWith("Error [IST0106] DestinationRule production/payment-service:"
            + " spec.trafficPolicy.outlierDetection.ejectAll: unknown field (expected one of ")
        .contains("consecutiveGatewayErrors")
        .endsWith("); ignored");
  }

  @Test
  void aMissingSubsetIsReportedWhenTheServiceIsNotInTheFiles() throws Exception {
    Path f = dir.resolve("reviews.yaml");
    Files.writeString(f, """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: reviews, namespace: shop}
        spec:
          hosts: [reviews]
          http:
          - route:
            - destination: {host: reviews, subset: v3}
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: reviews, namespace: shop}
        spec:
          host: reviews
          subsets:
          - name: v1
            labels: {version: v1}
        """);
    Run r = analyze(f.toString());
    assertThat(r.lines()).contains(
        "Error [IST0101] VirtualService shop/reviews: spec.http[0].route[0].destination.subset:"
            + " subset \"v3\" of host reviews is not defined by any DestinationRule (requests to it"
            + " get 503)");
    assertThat(r.exit()).isEqualTo(1);
  }

  @Test
  void aSubsetThatSelectsNoPodOfItsService() throws Exception {
    Run r = withPolicies("      version: v2\n", "      version: v3\n");
    assertThat(r.lines()).containsExactly(
        "Error [IST0173] DestinationRule production/payment-service: spec.subsets[1]: subset"
            + " \"v2\" (labels {version=v3}) selects none of the pods of Service"
            + " production/payment-service; requests routed to it get 503 (no healthy upstream)");
  }

  @Test
  void aRuleAfterACatchAllRuleAndARepeatedMatch() throws Exception {
    Run r = withPolicies("""
          - name: fault-test
            match:
            - headers:
                x-fault-test:
                  exact: "true"
        """, """
          - name: everything
            route:
            - destination:
                host: payment-service
          - name: fault-test
            match:
            - headers:
                x-fault-test:
                  exact: "true"
            - name: again
              headers:
                x-fault-test:
                  exact: "true"
        """);
    assertThat(r.lines()).containsExactly(
        "Warning [IST0130] VirtualService production/payment-service: spec.http[1]: never used:"
            + " spec.http[0] (everything) before it matches every request (expected a catch-all"
            + " rule last)",
        "Warning [IST0130] VirtualService production/payment-service: spec.http[2]: never used:"
            + " spec.http[0] (everything) before it matches every request (expected a catch-all"
            + " rule last)");
    Run repeated = withPolicies("""
            - headers:
                x-fault-test:
                  exact: "true"
        """, """
            - headers:
                x-fault-test:
                  exact: "true"
            - name: again
              headers:
                x-fault-test:
                  exact: "true"
        """);
    assertThat(repeated.lines()).containsExactly(
        "Info [IST0131] VirtualService production/payment-service: spec.http[0].match[1]: never"
            + " decides: spec.http[0].match[0] before it is the same match");
    assertThat(repeated.exit()).as("Info only").isZero();
  }

  @Test
  void useWaypointNamingAGatewayThatIsNotAWaypoint() throws Exception {
    Run r = withMesh("""
        apiVersion: gateway.networking.k8s.io/v1
        kind: Gateway
        metadata: {name: ingress, namespace: production}
        spec:
          gatewayClassName: istio
          listeners:
          - {name: http, port: 80, protocol: HTTP}
        ---
        apiVersion: v1
        kind: Namespace
        metadata:
          name: shop
          labels:
            istio.io/use-waypoint: ingress
            istio.io/use-waypoint-namespace: production
        """);
    assertThat(r.lines()).contains(
        "Warning [AMB0104] Namespace shop: metadata.labels[istio.io/use-waypoint]: Gateway"
            + " production/ingress is not a waypoint (its gatewayClassName is istio); traffic is"
            + " not sent to a waypoint (expected a Gateway of class istio-waypoint named ingress"
            + " in namespace production)");
  }

  private static final String SHOP_USES_PAYMENT_WAYPOINT = """
      apiVersion: v1
      kind: Namespace
      metadata:
        name: shop
        labels:
          team: payments
          istio.io/dataplane-mode: ambient
          istio.io/use-waypoint: payment-waypoint
          istio.io/use-waypoint-namespace: production
      """;

  @Test
  void aWaypointBoundFromANamespaceItDoesNotAdmit() throws Exception {
    Run r = withMesh(SHOP_USES_PAYMENT_WAYPOINT);
    assertThat(r.lines()).containsExactly(
        "Warning [AMB0111] Namespace shop: metadata.labels[istio.io/use-waypoint]: waypoint"
            + " production/payment-waypoint does not admit namespace shop: its HBONE listener"
            + " admits routes from its own namespace only"
            + " (spec.listeners[0].allowedRoutes.namespaces.from: Same, the default); Istio"
            + " ignores this binding, while ambientj honours it (expected the Gateway's HBONE"
            + " listener to admit namespace shop: allowedRoutes.namespaces.from: All, or Selector"
            + " matching it)");
    assertThat(r.exit()).isEqualTo(1);

    String mesh = Files.readString(examples().resolve("mesh.yaml"));
    String selector = "    protocol: HBONE\n    allowedRoutes:\n      namespaces:\n"
        + "        from: Selector\n        selector:\n          matchLabels: {team: %s}\n";
    assertThat(withMesh(mesh.replace("    protocol: HBONE\n", selector.formatted("payments")),
        SHOP_USES_PAYMENT_WAYPOINT).lines()).as("admitted by its labels").isEmpty();
    assertThat(withMesh(mesh.replace("    protocol: HBONE\n", selector.formatted("orders")),
        SHOP_USES_PAYMENT_WAYPOINT).lines()).singleElement().asString()
        .contains("its HBONE listener admits the namespaces matching"
            + " spec.listeners[0].allowedRoutes.namespaces.selector, and namespace shop");
  }

  @Test
  void strictMtlsOnAPortAClientOutsideTheMeshIsLetInto() throws Exception {
    // legacy-web-0 (127.0.2.50) is in namespace legacy, which is not enrolled; production is STRICT
    String policy = """
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: orders-from-legacy, namespace: production}
        spec:
          selector:
            matchLabels: {app: orders}
          rules:
          - from:
            - source:
                principals: ["cluster.local/ns/production/sa/api-gateway"]
            - source:
                ipBlocks: ["127.0.2.50/32"]
        """;
    Run r = withMesh(policy);
    assertThat(r.lines()).containsExactly(
        "Warning [AMB0112] AuthorizationPolicy production/orders-from-legacy:"
            + " spec.rules[0].from[1].source.ipBlocks: lets in legacy/legacy-web-0 ([127.0.2.50]),"
            + " which is not in the mesh and so connects in plaintext, but PeerAuthentication"
            + " production/default sets mTLS STRICT for production/orders-0 port 8080: ztunnel"
            + " refuses that connection before this policy is evaluated (expected: enroll"
            + " namespace legacy (istio.io/dataplane-mode: ambient), or a PeerAuthentication with"
            + " PERMISSIVE for that port)");

    String permissive = """
        ---
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata: {name: orders-plaintext, namespace: production}
        spec:
          selector:
            matchLabels: {app: orders}
          portLevelMtls:
            "8080": {mode: PERMISSIVE}
        """;
    assertThat(withMesh(policy + permissive).lines()).as("PERMISSIVE on that port").isEmpty();
    assertThat(withMesh(policy.replace("ipBlocks: [\"127.0.2.50/32\"]", "namespaces: [legacy]"))
        .lines()).singleElement().asString()
        .contains("spec.rules[0].from[1].source.namespaces: lets in legacy/legacy-web-0");
  }

  @Test
  void aDenyPolicyWithASelectorOnWorkloadsBehindAWaypointLetsTheDeniedThrough() throws Exception {
    Run r = withMesh("""
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: no-orders, namespace: production}
        spec:
          selector:
            matchLabels: {app: payment-service}
          action: DENY
          rules:
          - from:
            - source:
                principals: ["cluster.local/ns/production/sa/orders"]
        """);
    assertThat(r.lines()).singleElement().asString()
        .startsWith("Warning [AMB0107] AuthorizationPolicy production/no-orders: spec.selector:"
            + " selects payment-v1-0, reached through waypoint production/payment-waypoint for"
            + " Service payment-service: ztunnel sees the waypoint's identity, so the denied"
            + " sources get through on that path");
  }

  @Test
  void anL7PolicyAttachedToAServiceWithoutWaypointHasNoEffect() throws Exception {
    Run r = withMesh("""
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: orders-get, namespace: production}
        spec:
          targetRefs:
          - {kind: Service, group: "", name: orders}
          rules:
          - to:
            - operation: {methods: [GET]}
        """);
    assertThat(r.lines()).containsExactly(
        "Warning [AMB0108] AuthorizationPolicy production/orders-get: spec.targetRefs[0]: no"
            + " effect in ambient mode: Service production/orders has no waypoint, and a policy"
            + " attached to a Service is enforced by its waypoint");
  }

  @Test
  void aPortThatDeclaresNoProtocolIsTcpToItsWaypoint() throws Exception {
    String mesh = Files.readString(examples().resolve("mesh.yaml"));
    // payment-service (behind the waypoint) and orders (no waypoint) each name their port "web"
    String renamed = mesh
        .replace("    app: orders\n  ports:\n  - name: http\n",
            "    app: orders\n  ports:\n  - name: web\n")
        .replace("    app: payment-service\n  ports:\n  - name: http\n",
            "    app: payment-service\n  ports:\n  - name: web\n");
    assertThat(renamed.split("  - name: web\n    port: 80", -1)).hasSize(3);
    Run r = withMesh(renamed, NOTHING);
    assertThat(r.lines()).containsExactly(
        "Info [IST0118] Service production/orders: spec.ports[0]: port name \"web\" (port 80,"
            + " targetPort http) does not follow Istio's naming convention <protocol>[-<suffix>]"
            + " and there is no appProtocol: a waypoint would treat it as TCP",
        "Warning [AMB0113] Service production/payment-service: spec.ports[0]: port \"web\" (80)"
            + " declares no protocol, so waypoint production/payment-waypoint treats it as TCP:"
            + " HTTP routes, L7 authorization, retries and HTTP metrics do not apply to it"
            + " (expected a name such as http-web, or appProtocol: http)");
    assertThat(withMesh(renamed.replace("  - name: web\n    port: 80",
            "  - name: web\n    appProtocol: http\n    port: 80"),
        NOTHING).lines()).as("appProtocol declares it").isEmpty();
  }
}
