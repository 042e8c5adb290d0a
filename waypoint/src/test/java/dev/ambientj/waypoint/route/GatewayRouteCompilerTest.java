package dev.ambientj.waypoint.route;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.MeshYaml;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class GatewayRouteCompilerTest {
  static Object load(String yaml) {
    MeshYaml.Result r = MeshYaml.load(yaml, "t");
    assertThat(r.errors()).isEmpty();
    return r.objects().get(0);
  }

  @Test
  void httpRouteMatchesFiltersAndWeights() {
    HTTPRoute hr = (HTTPRoute) load("""
        apiVersion: gateway.networking.k8s.io/v1
        kind: HTTPRoute
        metadata: {name: r, namespace: production}
        spec:
          parentRefs: [{group: "", kind: Service, name: payment-service, port: 80}]
          rules:
          - matches:
            - path: {type: Exact, value: /exact}
            - headers: [{name: x-canary, value: "true"}]
              queryParams: [{name: debug, type: RegularExpression, value: "[01]"}]
              method: POST
            filters:
            - type: RequestHeaderModifier
              requestHeaderModifier: {set: [{name: x-set, value: a}], add: [{name: x-add, value: b}], remove: [x-rm]}
            - type: ResponseHeaderModifier
              responseHeaderModifier: {add: [{name: x-resp, value: c}]}
            backendRefs:
            - {name: payment-v2, port: 80, weight: 9}
            - {name: payment-v1, port: 80, weight: 1}
          - matches: [{path: {type: PathPrefix, value: /api/}}]
            filters:
            - type: URLRewrite
              urlRewrite: {hostname: rewritten, path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}
            backendRefs: [{name: payment-service, port: 80}]
          - matches: [{path: {type: PathPrefix, value: /old}}]
            filters:
            - type: RequestRedirect
              requestRedirect: {hostname: new.example, statusCode: 301}
          - timeouts: {request: 3s, backendRequest: 1s}
            backendRefs: [{name: payment-service, port: 80}]
        """);
    assertThat(GatewayRouteCompiler.boundPorts(hr.getSpec().getParentRefs(), "production", "payment-service", "production"))
        .containsExactly(80);
    List<String> problems = new ArrayList<>();
    RouteTable t = new RouteTable("t", GatewayRouteCompiler.compile(hr, 80, problems::add));
    assertThat(problems).isEmpty();
    assertThat(name(t, "GET", "/exact")).endsWith("rules[0]");
    assertThat(name(t, "POST", "/x?debug=1", "x-canary", "true")).endsWith("rules[0]");
    assertThat(name(t, "GET", "/x?debug=1", "x-canary", "true")).as("method must match too").endsWith("rules[3]");
    var first = t.routes().get(0);
    var f = (RouteAction.Forward) first.action();
    assertThat(f.totalWeight()).isEqualTo(10);
    assertThat(f.destinations().get(0).host()).isEqualTo("payment-v2.production.svc.cluster.local");
    HttpHeaders h = new DefaultHttpHeaders().add("x-rm", "1");
    first.requestHeaders().apply(h);
    assertThat(h.get("x-set")).isEqualTo("a");
    assertThat(h.get("x-add")).isEqualTo("b");
    assertThat(h.contains("x-rm")).isFalse();
    var api = t.find(new RouteRequest("GET", "/api/users", new DefaultHttpHeaders(), "h", 80));
    assertThat(api.route().rewrite("/api/users", api.match())).isEqualTo("/v2/users");
    assertThat(api.route().rewriteAuthority()).isEqualTo("rewritten");
    var redirect = (RouteAction.Redirect) t.routes().get(2).action();
    assertThat(redirect.status()).isEqualTo(301);
    assertThat(t.routes().get(3).timeout()).hasSeconds(3);
    assertThat(t.routes().get(3).retry().perTryTimeout()).hasSeconds(1);
    assertThat(name(t, "GET", "/x", "x-other", "1", 8080)).as("parentRef port 80 only").isNull();
  }

  @Test
  void grpcRouteMethodMatching() {
    GRPCRoute gr = (GRPCRoute) load("""
        apiVersion: gateway.networking.k8s.io/v1
        kind: GRPCRoute
        metadata: {name: g, namespace: production}
        spec:
          parentRefs: [{group: "", kind: Service, name: greeter}]
          rules:
          - matches: [{method: {service: greeter.Greeter, method: SayHello}}]
            backendRefs: [{name: greeter-v2, port: 9000}]
          - matches: [{method: {service: greeter.Greeter}}]
            backendRefs: [{name: greeter, port: 9000}]
        """);
    RouteTable t = new RouteTable("t", GatewayRouteCompiler.compile(gr, 0, new ArrayList<String>()::add));
    assertThat(name(t, "POST", "/greeter.Greeter/SayHello")).endsWith("rules[0]");
    assertThat(name(t, "POST", "/greeter.Greeter/SayHellos")).endsWith("rules[1]");
    assertThat(name(t, "POST", "/other.Svc/SayHello")).isNull();
  }

  static String name(RouteTable t, String method, String uri, String... headers) {
    return name(t, method, uri, headers.length == 0 ? "x-none" : headers[0], headers.length == 0 ? "" : headers[1], 80);
  }

  static String name(RouteTable t, String method, String uri, String hn, String hv, int port) {
    HttpHeaders h = new DefaultHttpHeaders().add(hn, hv);
    var s = t.find(new RouteRequest(method, uri, h, "h", port));
    return s == null ? null : s.route().name();
  }
}
