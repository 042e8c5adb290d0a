package dev.ambientj.config.authz;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.MeshYaml;
import io.fabric8.istio.api.security.v1.AuthorizationPolicy;
import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The engine at the waypoint (the waypoint's former engine's tests, run against the one engine):
 * HTTP requests with every L7 attribute, TCP connections to the waypoint, and {@code remote.ip}
 * from {@code X-Forwarded-For}.
 */
class WaypointEnforcementTest {
  static final String API = "cluster.local/ns/production/sa/api-gateway";
  static final String ORDERS = "cluster.local/ns/production/sa/orders";

  static WorkloadAuthorizer compile(List<String> problems, String... specs) {
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
    AuthorizationEngine e = AuthorizationEngine.compile(ps, AuthorizationEngine.DEFAULT_ROOT_NAMESPACE,
        EnforcementPoint.WAYPOINT);
    problems.addAll(e.problems());
    return e.forAttachedPolicies();
  }

  static InetAddress ip(String s) {
    return NetUtil.createInetAddressFromIpAddressString(s);
  }

  static AuthzRequest req(String principal, String method, String path) {
    return req(principal, method, path, Map.of());
  }

  static AuthzRequest req(String principal, String method, String path, Map<String, String> h) {
    return new AuthzRequest(principal, ip("10.1.2.3"), null, ip("127.10.0.20"), 80,
        "payment-service.production.svc.cluster.local", method, path, h::get);
  }

  @Test
  void seedAllowOnlyApiGateway() {
    WorkloadAuthorizer a = compile(new ArrayList<>(), """
        action: ALLOW
        rules:
        - from: [{source: {principals: ["cluster.local/ns/production/sa/api-gateway"]}}]
        """);
    assertThat(a.check(req(API, "GET", "/")).allowed()).isTrue();
    assertThat(a.check(req(ORDERS, "GET", "/")).allowed()).isFalse();
    assertThat(a.check(req(null, "GET", "/")).allowed()).isFalse();
  }

  @Test
  void denyOnPathsWithPrefixAndSuffixWildcardsMethodsHostsHeaders() {
    WorkloadAuthorizer a = compile(new ArrayList<>(), """
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
    assertThat(a.check(req(API, "GET", "/pay", Map.of("x-block", "yes"))).allowed()).isFalse();
    var internal = new AuthzRequest(API, null, null, null, 80, "db.internal", "GET", "/", Map.<String, String>of()::get);
    assertThat(a.check(internal).allowed()).isFalse();
  }

  @Test
  void denyWinsOverAllowAndNotFieldsAndL4Fields() {
    WorkloadAuthorizer a = compile(new ArrayList<>(), """
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
    var foreign = new AuthzRequest("cluster.local/ns/other/sa/x", ip("10.0.0.1"), null, null, 80, "h", "GET",
        "/pay", Map.<String, String>of()::get);
    assertThat(a.check(foreign).allowed()).as("namespace not allowed").isFalse();
  }

  @Test
  void tcpConnectionsFailClosedOnHttpOnlyFields() {
    var conn = AuthzRequest.l4(API, ip("10.1.2.3"), null, 7000);
    WorkloadAuthorizer allowPaths = compile(new ArrayList<>(), """
        action: ALLOW
        rules: [{to: [{operation: {paths: ["/pay"]}}]}]
        """);
    assertThat(allowPaths.check(conn).allowed()).as("ALLOW with paths never matches TCP").isFalse();
    WorkloadAuthorizer denyPaths = compile(new ArrayList<>(), """
        action: DENY
        rules: [{to: [{operation: {paths: ["/admin/*"]}}]}]
        """);
    assertThat(denyPaths.check(conn).allowed()).as("DENY with paths denies TCP").isFalse();
    WorkloadAuthorizer allowPrincipal = compile(new ArrayList<>(), """
        action: ALLOW
        rules: [{from: [{source: {principals: ["cluster.local/ns/production/sa/api-gateway"]}}], to: [{operation: {ports: ["7000"]}}]}]
        """);
    assertThat(allowPrincipal.check(conn).allowed()).as("L4 fields apply to TCP").isTrue();
  }

  @Test
  void emptyAllowDeniesAllAndEmptyRuleAllowsAll() {
    assertThat(compile(new ArrayList<>(), "action: ALLOW").check(req(API, "GET", "/")).allowed()).isFalse();
    assertThat(compile(new ArrayList<>(), "action: ALLOW\nrules: [{}]").check(req(API, "GET", "/")).allowed()).isTrue();
    assertThat(compile(new ArrayList<>(), "action: DENY").check(req(API, "GET", "/")).allowed()).isTrue();
    assertThat(compile(new ArrayList<>()).check(req(API, "GET", "/")).allowed()).isTrue();
  }

  @Test
  void customAndRequestPrincipalsAreRejectedWithAReasonAndFailClosed() {
    List<String> problems = new ArrayList<>();
    WorkloadAuthorizer a = compile(problems, """
        action: CUSTOM
        provider: {name: ext-authz}
        rules: [{}]
        """, """
        action: ALLOW
        rules:
        - from: [{source: {requestPrincipals: ["*"]}}]
        """);
    assertThat(problems).anyMatch(p -> p.contains("AuthorizationPolicy production/p0")
        && p.contains("CUSTOM is not supported") && p.contains("\"ext-authz\""));
    assertThat(problems).anyMatch(p -> p.contains("production/p1") && p.contains("requestPrincipals")
        && p.contains("matches no request"));
    assertThat(a.check(req(API, "GET", "/")).allowed()).as("ALLOW rule that cannot be evaluated never matches").isFalse();
    WorkloadAuthorizer deny = compile(new ArrayList<>(), """
        action: DENY
        rules:
        - from: [{source: {requestPrincipals: ["*"]}}]
        """);
    assertThat(deny.check(req(API, "GET", "/")).allowed()).as("DENY rule that cannot be evaluated matches").isFalse();
  }

  /**
   * Istio's {@code remoteIpBlocks}: the client address from {@code X-Forwarded-For} only when the
   * waypoint trusts proxies in front of it ({@code numTrustedProxies}); then the n-th address from
   * the right. {@code ipBlocks} always reads the direct client.
   */
  @Test
  void remoteIpBlocksReadXForwardedForOnlyThroughTrustedProxies() {
    WorkloadAuthorizer a = compile(new ArrayList<>(), """
        action: ALLOW
        rules:
        - from: [{source: {remoteIpBlocks: ["203.0.113.0/24"]}}]
        """);
    InetAddress direct = ip("10.1.2.3");
    String xff = "198.51.100.7, 203.0.113.9";
    assertThat(a.check(http(direct, ForwardedFor.remoteIp(xff, direct, 0))).allowed())
        .as("no trusted proxy: the header is the client's word, remote.ip is the direct client").isFalse();
    assertThat(a.check(http(direct, ForwardedFor.remoteIp(xff, direct, 1))).allowed())
        .as("one trusted proxy: the right-most address").isTrue();
    assertThat(a.check(http(direct, ForwardedFor.remoteIp(xff, direct, 2))).allowed())
        .as("two: the second from the right").isFalse();
    assertThat(ForwardedFor.remoteIp(xff, direct, 2)).isEqualTo(ip("198.51.100.7"));
    assertThat(ForwardedFor.remoteIp(xff, direct, 3)).as("fewer hops than trusted: the direct client")
        .isEqualTo(direct);
    assertThat(ForwardedFor.remoteIp("not-an-ip, evil.example", direct, 1))
        .as("not an IP literal: the direct client, and no DNS lookup").isEqualTo(direct);

    WorkloadAuthorizer byIpBlocks = compile(new ArrayList<>(), """
        action: ALLOW
        rules:
        - from: [{source: {ipBlocks: ["203.0.113.0/24"]}}]
        """);
    assertThat(byIpBlocks.check(http(direct, ForwardedFor.remoteIp(xff, direct, 1))).allowed())
        .as("ipBlocks: the direct client, whatever the header says").isFalse();
  }

  private static AuthzRequest http(InetAddress source, InetAddress remote) {
    return new AuthzRequest(API, source, remote, ip("127.10.0.20"), 80, "h", "GET", "/", Map.<String, String>of()::get);
  }
}
