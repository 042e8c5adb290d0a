package dev.ambientj.waypoint.filter.authz;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.MeshYaml;
import io.fabric8.istio.api.security.v1.AuthorizationPolicy;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class L7AuthorizerTest {
  static final String API = "cluster.local/ns/production/sa/api-gateway";
  static final String ORDERS = "cluster.local/ns/production/sa/orders";

  static L7Authorizer compile(List<String> problems, String... specs) {
    List<AuthorizationPolicy> ps = new ArrayList<>();
    int i = 0;
    for (String spec : specs) {
      String yaml = """
          apiVersion: security.istio.io/v1
          kind: AuthorizationPolicy
          metadata: {name: p%d, namespace: production}
          spec:
          """.formatted(i++) + spec.indent(2);
      MeshYaml.Result r = MeshYaml.load(yaml, "t");
      assertThat(r.errors()).isEmpty();
      ps.add((AuthorizationPolicy) r.objects().get(0));
    }
    return L7Authorizer.compile(ps, problems::add);
  }

  static AuthzRequest req(String principal, String method, String path) throws Exception {
    return req(principal, method, path, new DefaultHttpHeaders());
  }

  static AuthzRequest req(String principal, String method, String path, HttpHeaders h) throws Exception {
    String ns = principal == null ? null : principal.split("/")[2];
    return new AuthzRequest(principal, ns, InetAddress.getByName("10.1.2.3"), "payment-service.production.svc.cluster.local",
        method, path, 80, InetAddress.getByName("127.10.0.20"), h);
  }

  @Test
  void seedAllowOnlyApiGateway() throws Exception {
    L7Authorizer a = compile(new ArrayList<>(), """
        action: ALLOW
        rules:
        - from: [{source: {principals: ["cluster.local/ns/production/sa/api-gateway"]}}]
        """);
    assertThat(a.check(req(API, "GET", "/")).allowed()).isTrue();
    assertThat(a.check(req(ORDERS, "GET", "/")).allowed()).isFalse();
    assertThat(a.check(req(null, "GET", "/")).allowed()).isFalse();
  }

  @Test
  void denyOnPathsWithPrefixAndSuffixWildcardsMethodsHostsHeaders() throws Exception {
    L7Authorizer a = compile(new ArrayList<>(), """
        action: DENY
        rules:
        - to: [{operation: {paths: ["/admin/*", "*.secret"], methods: ["GET", "POST"]}}]
        - to: [{operation: {hosts: ["*.internal"]}}]
        - when: [{key: "request.headers[x-block]", values: ["yes"]}]
        """);
    assertThat(a.check(req(API, "GET", "/admin/users")).allowed()).isFalse();
    assertThat(a.check(req(API, "DELETE", "/admin/users")).allowed()).as("method not listed").isTrue();
    assertThat(a.check(req(API, "GET", "/files/key.secret")).allowed()).isFalse();
    assertThat(a.check(req(API, "GET", "/pay")).allowed()).isTrue();
    HttpHeaders h = new DefaultHttpHeaders().add("x-block", "yes");
    assertThat(a.check(req(API, "GET", "/pay", h)).allowed()).isFalse();
    var internal = new AuthzRequest(API, "production", null, "db.internal", "GET", "/", 80, null, new DefaultHttpHeaders());
    assertThat(a.check(internal).allowed()).isFalse();
  }

  @Test
  void denyWinsOverAllowAndNotFieldsAndL4Fields() throws Exception {
    L7Authorizer a = compile(new ArrayList<>(), """
        action: ALLOW
        rules:
        - from: [{source: {namespaces: ["production"], ipBlocks: ["10.0.0.0/8"]}}]
          to: [{operation: {ports: ["80"], notPaths: ["/private*"]}}]
        """, """
        action: DENY
        rules:
        - from: [{source: {principals: ["*/sa/orders"]}}]
          to: [{operation: {paths: ["/pay"]}}]
        """);
    assertThat(a.check(req(API, "GET", "/pay")).allowed()).isTrue();
    assertThat(a.check(req(ORDERS, "GET", "/pay")).allowed()).as("DENY first").isFalse();
    assertThat(a.check(req(ORDERS, "GET", "/other")).allowed()).isTrue();
    assertThat(a.check(req(API, "GET", "/private/x")).allowed()).as("notPaths").isFalse();
    var foreign = new AuthzRequest("cluster.local/ns/other/sa/x", "other", InetAddress.getByName("10.0.0.1"), "h", "GET",
        "/pay", 80, null, new DefaultHttpHeaders());
    assertThat(a.check(foreign).allowed()).as("namespace not allowed").isFalse();
  }

  @Test
  void tcpConnectionsFailClosedOnHttpOnlyFields() throws Exception {
    var conn = AuthzRequest.tcp(API, "production", InetAddress.getByName("10.1.2.3"), 7000, null);
    L7Authorizer allowPaths = compile(new ArrayList<>(), """
        action: ALLOW
        rules: [{to: [{operation: {paths: ["/pay"]}}]}]
        """);
    assertThat(allowPaths.check(conn).allowed()).as("ALLOW with paths never matches TCP").isFalse();
    L7Authorizer denyPaths = compile(new ArrayList<>(), """
        action: DENY
        rules: [{to: [{operation: {paths: ["/admin/*"]}}]}]
        """);
    assertThat(denyPaths.check(conn).allowed()).as("DENY with paths denies TCP").isFalse();
    L7Authorizer allowPrincipal = compile(new ArrayList<>(), """
        action: ALLOW
        rules: [{from: [{source: {principals: ["cluster.local/ns/production/sa/api-gateway"]}}], to: [{operation: {ports: ["7000"]}}]}]
        """);
    assertThat(allowPrincipal.check(conn).allowed()).as("L4 fields apply to TCP").isTrue();
  }

  @Test
  void emptyAllowDeniesAllAndEmptyRuleAllowsAll() throws Exception {
    assertThat(compile(new ArrayList<>(), "action: ALLOW").check(req(API, "GET", "/")).allowed()).isFalse();
    assertThat(compile(new ArrayList<>(), "action: ALLOW\nrules: [{}]").check(req(API, "GET", "/")).allowed()).isTrue();
    assertThat(compile(new ArrayList<>(), "action: DENY").check(req(API, "GET", "/")).allowed()).isTrue();
    assertThat(L7Authorizer.ALLOW_ALL.check(req(API, "GET", "/")).allowed()).isTrue();
  }

  @Test
  void customAndRequestPrincipalsAreRejectedWithAReasonAndFailClosed() throws Exception {
    List<String> problems = new ArrayList<>();
    L7Authorizer a = compile(problems, """
        action: CUSTOM
        provider: {name: ext-authz}
        rules: [{}]
        """, """
        action: ALLOW
        rules:
        - from: [{source: {requestPrincipals: ["*"]}}]
        """);
    assertThat(problems).anyMatch(p -> p.contains("AuthorizationPolicy production/p0") && p.contains("CUSTOM is not supported"));
    assertThat(problems).anyMatch(p -> p.contains("production/p1") && p.contains("requestPrincipals")
        && p.contains("matches no request"));
    assertThat(a.check(req(API, "GET", "/")).allowed()).as("ALLOW rule that cannot be evaluated never matches").isFalse();
    L7Authorizer deny = compile(new ArrayList<>(), """
        action: DENY
        rules:
        - from: [{source: {requestPrincipals: ["*"]}}]
        """);
    assertThat(deny.check(req(API, "GET", "/")).allowed()).as("DENY rule that cannot be evaluated matches").isFalse();
  }
}
