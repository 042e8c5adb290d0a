package dev.ambientj.waypoint.route;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.MeshYaml;
import io.fabric8.istio.api.networking.v1.VirtualService;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class VirtualServiceCompilerTest {
  static VirtualService vs(String httpYaml) {
    String yaml = """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: vs, namespace: production}
        spec:
          hosts: [payment-service]
          http:
        """ + httpYaml.indent(4);
    MeshYaml.Result r = MeshYaml.load(yaml, "t");
    assertThat(r.errors()).isEmpty();
    return (VirtualService) r.objects().get(0);
  }

  static RouteTable table(String httpYaml, List<String> problems) {
    return new RouteTable("t", VirtualServiceCompiler.compile(vs(httpYaml), problems::add));
  }

  static String route(RouteTable t, String method, String uri, String... headers) {
    HttpHeaders h = new DefaultHttpHeaders();
    for (int i = 0; i < headers.length; i += 2) {
      h.add(headers[i], headers[i + 1]);
    }
    RouteTable.Selected s = t.find(new RouteRequest(method, uri, h, "payment-service", 80));
    if (s == null) {
      return null;
    }
    String n = s.route().name();
    return n.substring(n.indexOf('#') + 1);
  }

  @Test
  void everyMatchKindAndFirstMatchWins() {
    List<String> problems = new ArrayList<>();
    RouteTable t = table("""
        - name: exact
          match: [{uri: {exact: /exact}}]
          route: [{destination: {host: a}}]
        - name: regex
          match: [{uri: {regex: "/items/[0-9]+"}}]
          route: [{destination: {host: a}}]
        - name: header-exact
          match: [{headers: {x-user: {exact: alice}}}]
          route: [{destination: {host: a}}]
        - name: header-prefix
          match: [{headers: {x-user: {prefix: bo}}}]
          route: [{destination: {host: a}}]
        - name: header-regex
          match: [{headers: {x-user: {regex: "c.*l"}}}]
          route: [{destination: {host: a}}]
        - name: method
          match: [{method: {exact: DELETE}}]
          route: [{destination: {host: a}}]
        - name: query
          match: [{queryParams: {debug: {exact: "1"}}}]
          route: [{destination: {host: a}}]
        - name: query-regex
          match: [{queryParams: {v: {regex: "[0-9]+"}}}]
          route: [{destination: {host: a}}]
        - name: without
          match: [{uri: {prefix: /w}, withoutHeaders: {x-skip: {exact: "1"}}}]
          route: [{destination: {host: a}}]
        - name: nocase
          match: [{uri: {prefix: /CaSe}, ignoreUriCase: true}]
          route: [{destination: {host: a}}]
        - name: and-or
          match:
          - {uri: {prefix: /both}, method: {exact: POST}}
          - {uri: {prefix: /either}}
          route: [{destination: {host: a}}]
        - name: prefix
          match: [{uri: {prefix: /api}}]
          route: [{destination: {host: a}}]
        - name: catch-all
          route: [{destination: {host: a}}]
        """, problems);
    assertThat(problems).isEmpty();
    assertThat(route(t, "GET", "/exact")).isEqualTo("exact");
    assertThat(route(t, "GET", "/exact/no")).isEqualTo("catch-all");
    assertThat(route(t, "GET", "/items/42")).isEqualTo("regex");
    assertThat(route(t, "GET", "/items/42/x")).as("regex is a full match").isEqualTo("catch-all");
    assertThat(route(t, "GET", "/x", "x-user", "alice")).isEqualTo("header-exact");
    assertThat(route(t, "GET", "/x", "X-User", "bob")).isEqualTo("header-prefix");
    assertThat(route(t, "GET", "/x", "x-user", "carl")).isEqualTo("header-regex");
    assertThat(route(t, "DELETE", "/x")).isEqualTo("method");
    assertThat(route(t, "GET", "/x?debug=1")).isEqualTo("query");
    assertThat(route(t, "GET", "/x?debug=2")).isEqualTo("catch-all");
    assertThat(route(t, "GET", "/x?v=17")).isEqualTo("query-regex");
    assertThat(route(t, "GET", "/w")).isEqualTo("without");
    assertThat(route(t, "GET", "/w", "x-skip", "1")).isEqualTo("catch-all");
    assertThat(route(t, "GET", "/case/x")).isEqualTo("nocase");
    assertThat(route(t, "POST", "/both")).isEqualTo("and-or");
    assertThat(route(t, "GET", "/both")).isEqualTo("catch-all");
    assertThat(route(t, "GET", "/either")).isEqualTo("and-or");
    assertThat(route(t, "DELETE", "/api/x")).as("first match wins: method before prefix").isEqualTo("method");
    assertThat(route(t, "GET", "/api/x", "x-user", "alice")).isEqualTo("header-exact");
    assertThat(route(t, "GET", "/api/x")).isEqualTo("prefix");
  }

  @Test
  void noMatchWithoutCatchAllIsNoRoute() {
    RouteTable t = table("""
        - match: [{uri: {exact: /only}}]
          route: [{destination: {host: a}}]
        """, new ArrayList<>());
    assertThat(route(t, "GET", "/other")).isNull();
  }

  @Test
  void weightedDestinationsSplitByWeight() {
    RouteTable t = table("""
        - route:
          - {destination: {host: payment-service, subset: v1}, weight: 95}
          - {destination: {host: payment-service, subset: v2}, weight: 5}
          timeout: 10s
          retries: {attempts: 2, retryOn: "5xx,reset,connect-failure", perTryTimeout: 2s}
        """, new ArrayList<>());
    Route r = t.routes().get(0);
    RouteAction.Forward f = (RouteAction.Forward) r.action();
    assertThat(f.totalWeight()).isEqualTo(100);
    assertThat(f.destinations().get(0).host()).isEqualTo("payment-service.production.svc.cluster.local");
    Random rnd = new Random(7);
    int v2 = 0;
    for (int i = 0; i < 100_000; i++) {
      if ("v2".equals(f.pick(rnd.nextInt(f.totalWeight())).subset())) {
        v2++;
      }
    }
    assertThat(v2 / 100_000.0).isBetween(0.045, 0.055);
    assertThat(f.pick(94).subset()).isEqualTo("v1");
    assertThat(f.pick(95).subset()).isEqualTo("v2");
    assertThat(r.timeout()).isEqualTo(Duration.ofSeconds(10));
    assertThat(r.retry().attempts()).isEqualTo(2);
    assertThat(r.retry().perTryTimeout()).isEqualTo(Duration.ofSeconds(2));
    assertThat(r.retry().retryOn()).containsExactlyInAnyOrder(RetryPolicy.Condition.FIVE_XX,
        RetryPolicy.Condition.RESET, RetryPolicy.Condition.CONNECT_FAILURE);
  }

  @Test
  void rewriteRedirectDirectResponseAndHeaders() {
    RouteTable t = table("""
        - name: rw
          match: [{uri: {prefix: /old}}]
          rewrite: {uri: /new, authority: backend.example}
          headers:
            request: {set: {x-a: "1"}, add: {x-b: "2"}, remove: [x-c]}
            response: {set: {x-resp: "yes"}}
          route: [{destination: {host: a}}]
        - name: redir
          match: [{uri: {exact: /moved}}]
          redirect: {uri: /here, authority: other.example, redirectCode: 308}
        - name: direct
          match: [{uri: {exact: /teapot}}]
          directResponse: {status: 418, body: {string: "short and stout"}}
        """, new ArrayList<>());
    var sel = t.find(new RouteRequest("GET", "/old/x?q=1", new DefaultHttpHeaders(), "h", 80));
    assertThat(sel.route().rewrite("/old/x?q=1", sel.match())).isEqualTo("/new/x?q=1");
    assertThat(sel.route().rewriteAuthority()).isEqualTo("backend.example");
    HttpHeaders h = new DefaultHttpHeaders().add("x-c", "gone").add("x-a", "0");
    sel.route().requestHeaders().apply(h);
    assertThat(h.get("x-a")).isEqualTo("1");
    assertThat(h.get("x-b")).isEqualTo("2");
    assertThat(h.contains("x-c")).isFalse();
    assertThat(sel.route().responseHeaders().set()).containsEntry("x-resp", "yes");
    var redir = (RouteAction.Redirect) t.find(new RouteRequest("GET", "/moved", new DefaultHttpHeaders(), "h", 80))
        .route().action();
    assertThat(redir.status()).isEqualTo(308);
    assertThat(redir.host()).isEqualTo("other.example");
    var direct = (RouteAction.DirectResponse) t.find(new RouteRequest("GET", "/teapot", new DefaultHttpHeaders(), "h", 80))
        .route().action();
    assertThat(direct.status()).isEqualTo(418);
    assertThat(direct.body()).isEqualTo("short and stout");
  }

  @Test
  void badRegexDropsOnlyThatRouteWithAClearReason() {
    List<String> problems = new ArrayList<>();
    RouteTable t = table("""
        - match: [{uri: {regex: "/(unclosed"}}]
          route: [{destination: {host: a}}]
        - route: [{destination: {host: a}}]
        """, problems);
    assertThat(t.routes()).hasSize(1);
    assertThat(problems).singleElement().asString()
        .contains("VirtualService production/vs").contains("spec.http[0].match[0].uri.regex").contains("does not compile");
  }

  @Test
  void faultAndDefaultRetries() {
    RouteTable t = table("""
        - fault:
            delay: {percentage: {value: 10}, fixedDelay: 500ms}
            abort: {percentage: {value: 5}, httpStatus: 503}
          route: [{destination: {host: a}}]
        """, new ArrayList<>());
    Route r = t.routes().get(0);
    assertThat(r.fault().delay()).isEqualTo(Duration.ofMillis(500));
    assertThat(r.fault().delayPercent()).isEqualTo(10.0);
    assertThat(r.fault().abortHttpStatus()).isEqualTo(503);
    assertThat(r.fault().abortPercent()).isEqualTo(5.0);
    assertThat(r.retry()).as("Istio's default retry policy").isEqualTo(RetryPolicy.ISTIO_DEFAULT);
  }
}
