package dev.ambientj.waypoint;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.WaypointRef;
import dev.ambientj.waypoint.cluster.ClusterManager;
import dev.ambientj.waypoint.cluster.LbPolicy;
import dev.ambientj.waypoint.filter.ratelimit.RateLimiter;
import dev.ambientj.waypoint.route.RouteAction;
import dev.ambientj.waypoint.route.RouteRequest;
import dev.ambientj.waypoint.route.RouteTable;
import dev.ambientj.waypoint.route.WeightedDestination;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import java.net.InetAddress;
import org.junit.jupiter.api.Test;

class WaypointConfigTest {
  static final WaypointRef WP = new WaypointRef("production", "payment-waypoint");

  static WaypointConfig compile(String yaml) {
    MeshSnapshot s = TestMesh.snapshot(yaml);
    return WaypointConfig.compile(s, WP, new ClusterManager(), new RateLimiter(Ticker.system()));
  }

  static ServiceBinding payment(WaypointConfig c) throws Exception {
    return c.findBinding(InetAddress.getByName("127.99.10.20"), 80);
  }

  static String firstHost(RouteTable t, String path) {
    var sel = t.find(new RouteRequest("GET", path, new DefaultHttpHeaders(), "payment-service", 80));
    return ((RouteAction.Forward) sel.route().action()).destinations().get(0).subset();
  }

  static final String VS = """
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: payment-service, namespace: production}
      spec:
        hosts: [payment-service]
        http:
        - route: [{destination: {host: payment-service, subset: v1}}]
      """;

  static final String HTTPROUTE = """
      apiVersion: gateway.networking.k8s.io/v1
      kind: HTTPRoute
      metadata: {name: payment-route, namespace: production}
      spec:
        parentRefs: [{group: "", kind: Service, name: payment-service, port: 80}]
        rules:
        - matches: [{path: {type: PathPrefix, value: /v2}}]
          backendRefs: [{name: payment-service, port: 80, weight: 1}]
      """;

  @Test
  void bindsOnlyServicesOfThisWaypointAndDetectsPortProtocols() throws Exception {
    WaypointConfig c = compile("");
    ServiceBinding http = payment(c);
    assertThat(http.protocol()).isEqualTo(PortProtocol.HTTP);
    assertThat(c.findBinding(InetAddress.getByName("127.99.10.20"), 7000).protocol()).isEqualTo(PortProtocol.TCP);
    assertThat(c.findBinding(InetAddress.getByName("127.99.10.40"), 9000).protocol()).isEqualTo(PortProtocol.GRPC);
    assertThat(http.routes().source()).isEqualTo("default");
    assertThat(c.waypoint().addresses()).containsExactly(InetAddress.getByName("127.99.1.30"));
  }

  @Test
  void virtualServiceAppliesWhenAlone() throws Exception {
    WaypointConfig c = compile("""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: payment-service, namespace: production}
        spec:
          host: payment-service
          subsets: [{name: v1, labels: {version: v1}}]
        ---
        """ + VS);
    assertThat(payment(c).routes().source()).isEqualTo("VirtualService production/payment-service");
    assertThat(firstHost(payment(c).routes(), "/x")).isEqualTo("v1");
  }

  /**
   * Gateway API routes bound to the Service win over a VirtualService for the same host, as
   * istiod builds waypoint routes (recollection of pilot's sidecar-scope VirtualService selection
   * preferring Gateway API-derived routes; see the report), and the VirtualService is reported.
   */
  @Test
  void httpRouteTakesPrecedenceOverVirtualService() throws Exception {
    WaypointConfig c = compile(VS + "---\n" + HTTPROUTE);
    ServiceBinding b = payment(c);
    assertThat(b.routes().source()).isEqualTo("HTTPRoute production/payment-route");
    var sel = b.routes().find(new RouteRequest("GET", "/v2/x", new DefaultHttpHeaders(), "h", 80));
    assertThat(sel).isNotNull();
    assertThat(b.routes().find(new RouteRequest("GET", "/v2x", new DefaultHttpHeaders(), "h", 80)))
        .as("PathPrefix matches whole segments").isNull();
    assertThat(c.problems()).anyMatch(p -> p.contains("VirtualService production/payment-service")
        && p.contains("take precedence"));
  }

  @Test
  void oldestVirtualServiceWinsAndTheOtherIsReported() throws Exception {
    WaypointConfig c = compile(VS + "---\n" + VS.replace("name: payment-service, namespace", "name: zz-other, namespace"));
    assertThat(payment(c).routes().source()).isEqualTo("VirtualService production/payment-service");
    assertThat(c.problems()).anyMatch(p -> p.contains("zz-other") && p.contains("does not merge"));
  }

  @Test
  void subsetTrafficPolicyOverridesTopLevelFieldByField() throws Exception {
    WaypointConfig c = compile("""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: payment-service, namespace: production}
        spec:
          host: payment-service
          trafficPolicy:
            loadBalancer: {simple: ROUND_ROBIN}
            connectionPool: {tcp: {maxConnections: 100}, http: {http2MaxRequests: 1000}}
            outlierDetection: {consecutive5xxErrors: 5, baseEjectionTime: 30s, maxEjectionPercent: 50}
          subsets:
          - name: v1
            labels: {version: v1}
          - name: v2
            labels: {version: v2}
            trafficPolicy:
              loadBalancer: {simple: RANDOM}
              connectionPool: {http: {http2MaxRequests: 10}}
        """);
    var v1 = c.resolveCluster(new WeightedDestination("payment-service.production.svc.cluster.local", "v1", 80, 1, null, null), 80);
    var v2 = c.resolveCluster(new WeightedDestination("payment-service.production.svc.cluster.local", "v2", 80, 1, null, null), 80);
    assertThat(v1.cluster().policy().lb()).isEqualTo(LbPolicy.ROUND_ROBIN);
    assertThat(v1.cluster().policy().maxConnections()).isEqualTo(100);
    assertThat(v1.cluster().hosts()).extracting(h -> h.workload().name()).containsExactly("payment-v1-0");
    assertThat(v2.cluster().policy().lb()).isEqualTo(LbPolicy.RANDOM);
    assertThat(v2.cluster().policy().http2MaxRequests()).isEqualTo(10);
    assertThat(v2.cluster().policy().maxConnections()).as("connectionPool replaced as a whole").isEqualTo(Integer.MAX_VALUE);
    assertThat(v2.cluster().policy().outlier().consecutive5xx()).as("not overridden: inherited").isEqualTo(5);
    assertThat(v2.cluster().hosts()).extracting(h -> h.workload().name()).containsExactly("payment-v2-0");
    assertThat(v1.cluster().key().toString()).isEqualTo("outbound|80|v1|payment-service.production.svc.cluster.local");
  }

  @Test
  void missingSubsetIsReportedWhenTheConfigArrives() throws Exception {
    WaypointConfig c = compile(VS.replace("subset: v1", "subset: v3"));
    assertThat(c.problems()).anyMatch(p -> p.contains("missing subset \"v3\"") && p.contains("503"));
    var res = c.resolveCluster(new WeightedDestination("payment-service.production.svc.cluster.local", "v3", 80, 1, null, null), 80);
    assertThat(res.cluster()).isNull();
  }

  @Test
  void analyzeWarnsAboutAMissingSubsetBeforehand() {
    var lines = Waypoint.analyze(TestMesh.snapshot(VS.replace("subset: v1", "subset: v3")));
    assertThat(lines).anyMatch(l -> l.startsWith("waypoint production/payment-waypoint: ") && l.contains("missing subset"));
  }

  @Test
  void authorizationPoliciesByTargetRefAndSelector() throws Exception {
    WaypointConfig c = compile("""
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: by-selector, namespace: production}
        spec:
          selector: {matchLabels: {app: payment-service}}
          action: DENY
          rules: [{to: [{operation: {paths: ["/selector-denied"]}}]}]
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: other-service, namespace: production}
        spec:
          targetRefs: [{kind: Service, group: "", name: greeter}]
          action: DENY
          rules: [{to: [{operation: {paths: ["/x"]}}]}]
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: custom, namespace: production}
        spec:
          targetRefs: [{kind: Service, group: "", name: payment-service}]
          action: CUSTOM
          provider: {name: ext}
          rules: [{}]
        """);
    var authz = payment(c).authorizer();
    var h = new DefaultHttpHeaders();
    var denied = authz.check(new dev.ambientj.config.authz.AuthzRequest(null, null, null, null, 80, "h", "GET",
        "/selector-denied", h::get));
    assertThat(denied.allowed()).isFalse();
    assertThat(authz.check(new dev.ambientj.config.authz.AuthzRequest(null, null, null, null, 80, "h", "GET", "/x",
        h::get)).allowed()).as("greeter's policy does not apply to payment-service").isTrue();
    assertThat(c.problems()).anyMatch(p -> p.contains("custom") && p.contains("CUSTOM is not supported"));
  }

  @Test
  void rateLimitAppliesToServicesWhoseWorkloadsItSelects() throws Exception {
    WaypointConfig c = compile("""
        apiVersion: networking.istio.io/v1alpha3
        kind: EnvoyFilter
        metadata: {name: rl, namespace: production}
        spec:
          workloadSelector: {labels: {app: payment-service}}
          configPatches:
          - applyTo: HTTP_FILTER
            match: {context: SIDECAR_INBOUND}
            patch:
              operation: INSERT_BEFORE
              value:
                name: envoy.filters.http.local_ratelimit
                typed_config:
                  "@type": type.googleapis.com/udpa.type.v1.TypedStruct
                  type_url: type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit
                  value: {stat_prefix: x, token_bucket: {max_tokens: 100, tokens_per_fill: 100, fill_interval: 60s}}
        """);
    assertThat(payment(c).rateLimits()).hasSize(1);
    assertThat(payment(c).rateLimits().get(0).maxTokens()).isEqualTo(100);
    assertThat(c.findBinding(InetAddress.getByName("127.99.10.40"), 9000).rateLimits()).isEmpty();
  }
}
