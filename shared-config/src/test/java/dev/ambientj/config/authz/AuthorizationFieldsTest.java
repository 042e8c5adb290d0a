package dev.ambientj.config.authz;

import static dev.ambientj.config.authz.Policies.ap;
import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every AuthorizationPolicy field and {@code when} key Istio documents, one row each, run through
 * the one engine at both enforcement points: the waypoint for an HTTP request, and — for the same
 * client — a connection as ztunnel sees it and as the waypoint sees it on a TCP port.
 *
 * <p>Each row is a rule using one field, a request it matches and one it does not. It is checked
 * in an ALLOW policy and in a DENY policy. What is expected follows from Istio:
 *
 * <ul>
 *   <li>HTTP at the waypoint: an ALLOW policy allows exactly the matching request; a DENY policy
 *       denies exactly it;
 *   <li>a connection (ztunnel, or the waypoint's TCP port), with an L4 field: the same;
 *   <li>a connection with an L7 field (hosts, methods, paths, request headers, and the request
 *       attributes nobody evaluates here): the rule fails safe — an ALLOW rule never matches (both
 *       denied), a DENY rule matches on its L4 part, which is empty here (both denied);
 *   <li>HTTP with an attribute this engine cannot evaluate ({@code requestPrincipals},
 *       {@code request.auth.*}, {@code connection.sni}): the rule fails closed (both denied).
 * </ul>
 */
class AuthorizationFieldsTest {
  private static final String GATEWAY = "cluster.local/ns/production/sa/api-gateway";
  private static final String ORDERS = "cluster.local/ns/production/sa/orders";
  private static final String TEST_NS = "cluster.local/ns/test/sa/client";
  private static final Map<String, String> PAYMENT = Map.of("app", "payment-service");

  /** The attributes of one client's request (and of its connection). */
  record Client(String principal, String sourceIp, String destinationIp, int port, String host,
      String method, String path, Map<String, String> headers) {
    static final Client BASE = new Client(GATEWAY, "10.1.2.3", "10.0.2.20", 8080,
        "payment.production.svc.cluster.local", "GET", "/api/pay", Map.of("x-user", "alice"));

    Client principal(String p) {
      return new Client(p, sourceIp, destinationIp, port, host, method, path, headers);
    }

    Client sourceIp(String ip) {
      return new Client(principal, ip, destinationIp, port, host, method, path, headers);
    }

    Client destinationIp(String ip) {
      return new Client(principal, sourceIp, ip, port, host, method, path, headers);
    }

    Client port(int p) {
      return new Client(principal, sourceIp, destinationIp, p, host, method, path, headers);
    }

    Client host(String h) {
      return new Client(principal, sourceIp, destinationIp, port, h, method, path, headers);
    }

    Client method(String m) {
      return new Client(principal, sourceIp, destinationIp, port, host, m, path, headers);
    }

    Client path(String p) {
      return new Client(principal, sourceIp, destinationIp, port, host, method, p, headers);
    }

    Client headers(Map<String, String> h) {
      return new Client(principal, sourceIp, destinationIp, port, host, method, path, h);
    }

    AuthzRequest http() {
      return new AuthzRequest(principal, ip(sourceIp), null, ip(destinationIp), port, host, method,
          path, headers::get);
    }

    AuthzRequest connection() {
      return AuthzRequest.l4(principal, ip(sourceIp), ip(destinationIp), port);
    }
  }

  enum Kind {
    /** An attribute of the connection: every point evaluates it. */
    L4,
    /** An attribute of the HTTP request: a connection cannot have it. */
    L7,
    /** An attribute nothing here evaluates (JWT, SNI). */
    UNSUPPORTED
  }

  static Stream<Arguments> fields() {
    List<Arguments> rows = new ArrayList<>();
    // source
    row(rows, "principals", Kind.L4, "from: [{source: {principals: [\"" + GATEWAY + "\"]}}]",
        c -> c, c -> c.principal(ORDERS));
    row(rows, "principals prefix*", Kind.L4,
        "from: [{source: {principals: [\"cluster.local/ns/production/sa/api-*\"]}}]", c -> c,
        c -> c.principal(ORDERS));
    row(rows, "principals *suffix", Kind.L4, "from: [{source: {principals: [\"*/sa/api-gateway\"]}}]",
        c -> c, c -> c.principal(ORDERS));
    row(rows, "principals * (any identity)", Kind.L4, "from: [{source: {principals: [\"*\"]}}]",
        c -> c, c -> c.principal(null));
    row(rows, "notPrincipals", Kind.L4, "from: [{source: {notPrincipals: [\"" + ORDERS + "\"]}}]",
        c -> c, c -> c.principal(ORDERS));
    row(rows, "namespaces", Kind.L4, "from: [{source: {namespaces: [\"production\"]}}]", c -> c,
        c -> c.principal(TEST_NS));
    row(rows, "notNamespaces", Kind.L4, "from: [{source: {notNamespaces: [\"test\"]}}]", c -> c,
        c -> c.principal(TEST_NS));
    row(rows, "serviceAccounts", Kind.L4,
        "from: [{source: {serviceAccounts: [\"production/api-gateway\"]}}]", c -> c,
        c -> c.principal(ORDERS));
    row(rows, "notServiceAccounts", Kind.L4,
        "from: [{source: {notServiceAccounts: [\"production/orders\"]}}]", c -> c,
        c -> c.principal(ORDERS));
    row(rows, "ipBlocks", Kind.L4, "from: [{source: {ipBlocks: [\"10.1.0.0/16\"]}}]", c -> c,
        c -> c.sourceIp("10.2.0.1"));
    row(rows, "ipBlocks single address", Kind.L4, "from: [{source: {ipBlocks: [\"10.1.2.3\"]}}]",
        c -> c, c -> c.sourceIp("10.1.2.4"));
    row(rows, "ipBlocks IPv6", Kind.L4, "from: [{source: {ipBlocks: [\"fd00::/8\"]}}]",
        c -> c.sourceIp("fd00::1"), c -> c.sourceIp("fe80::1"));
    row(rows, "notIpBlocks", Kind.L4, "from: [{source: {notIpBlocks: [\"10.2.0.0/16\"]}}]", c -> c,
        c -> c.sourceIp("10.2.0.1"));
    row(rows, "remoteIpBlocks", Kind.L4, "from: [{source: {remoteIpBlocks: [\"10.1.0.0/16\"]}}]",
        c -> c, c -> c.sourceIp("10.2.0.1"));
    row(rows, "notRemoteIpBlocks", Kind.L4,
        "from: [{source: {notRemoteIpBlocks: [\"10.2.0.0/16\"]}}]", c -> c,
        c -> c.sourceIp("10.2.0.1"));
    row(rows, "requestPrincipals", Kind.UNSUPPORTED,
        "from: [{source: {requestPrincipals: [\"*\"]}}]", c -> c, c -> c.principal(null));
    row(rows, "notRequestPrincipals", Kind.UNSUPPORTED,
        "from: [{source: {notRequestPrincipals: [\"*\"]}}]", c -> c, c -> c.principal(null));
    // operation
    row(rows, "hosts (case-insensitive)", Kind.L7,
        "to: [{operation: {hosts: [\"Payment.Production.svc.cluster.local\"]}}]", c -> c,
        c -> c.host("orders.production.svc.cluster.local"));
    row(rows, "hosts *suffix", Kind.L7, "to: [{operation: {hosts: [\"*.production.svc.cluster.local\"]}}]",
        c -> c, c -> c.host("payment.test.svc.cluster.local"));
    row(rows, "notHosts", Kind.L7, "to: [{operation: {notHosts: [\"orders.*\"]}}]", c -> c,
        c -> c.host("orders.production.svc.cluster.local"));
    row(rows, "ports", Kind.L4, "to: [{operation: {ports: [\"8080\"]}}]", c -> c, c -> c.port(9090));
    row(rows, "notPorts", Kind.L4, "to: [{operation: {notPorts: [\"9090\"]}}]", c -> c,
        c -> c.port(9090));
    row(rows, "methods", Kind.L7, "to: [{operation: {methods: [\"GET\", \"HEAD\"]}}]", c -> c,
        c -> c.method("POST"));
    row(rows, "notMethods", Kind.L7, "to: [{operation: {notMethods: [\"DELETE\"]}}]", c -> c,
        c -> c.method("DELETE"));
    row(rows, "paths exact", Kind.L7, "to: [{operation: {paths: [\"/api/pay\"]}}]", c -> c,
        c -> c.path("/api/pay/x"));
    row(rows, "paths prefix*", Kind.L7, "to: [{operation: {paths: [\"/api/*\"]}}]", c -> c,
        c -> c.path("/admin/pay"));
    row(rows, "paths *suffix", Kind.L7, "to: [{operation: {paths: [\"*/pay\"]}}]", c -> c,
        c -> c.path("/api/refund"));
    row(rows, "paths * (presence)", Kind.L7, "to: [{operation: {paths: [\"*\"]}}]", c -> c,
        c -> c.path(""));
    row(rows, "notPaths", Kind.L7, "to: [{operation: {notPaths: [\"/admin/*\"]}}]", c -> c,
        c -> c.path("/admin/users"));
    // conditions
    row(rows, "when request.headers[]", Kind.L7,
        "when: [{key: \"request.headers[X-User]\", values: [\"alice\", \"bob\"]}]", c -> c,
        c -> c.headers(Map.of("x-user", "mallory")));
    row(rows, "when request.headers[] notValues", Kind.L7,
        "when: [{key: \"request.headers[x-user]\", notValues: [\"mallory\"]}]", c -> c,
        c -> c.headers(Map.of("x-user", "mallory")));
    row(rows, "when request.headers[] presence", Kind.L7,
        "when: [{key: \"request.headers[x-user]\", values: [\"*\"]}]", c -> c,
        c -> c.headers(Map.of()));
    row(rows, "when source.ip", Kind.L4, "when: [{key: source.ip, values: [\"10.1.0.0/16\"]}]",
        c -> c, c -> c.sourceIp("10.2.0.1"));
    row(rows, "when source.ip notValues", Kind.L4,
        "when: [{key: source.ip, notValues: [\"10.2.0.0/16\"]}]", c -> c, c -> c.sourceIp("10.2.0.1"));
    row(rows, "when remote.ip", Kind.L4, "when: [{key: remote.ip, values: [\"10.1.2.3\"]}]", c -> c,
        c -> c.sourceIp("10.2.0.1"));
    row(rows, "when source.namespace", Kind.L4,
        "when: [{key: source.namespace, values: [\"production\"]}]", c -> c,
        c -> c.principal(TEST_NS));
    row(rows, "when source.principal", Kind.L4,
        "when: [{key: source.principal, values: [\"" + GATEWAY + "\"]}]", c -> c,
        c -> c.principal(ORDERS));
    row(rows, "when destination.ip", Kind.L4,
        "when: [{key: destination.ip, values: [\"10.0.2.0/24\"]}]", c -> c,
        c -> c.destinationIp("10.0.3.1"));
    row(rows, "when destination.port", Kind.L4,
        "when: [{key: destination.port, values: [\"8080\"]}]", c -> c, c -> c.port(9090));
    row(rows, "when request.auth.principal", Kind.UNSUPPORTED,
        "when: [{key: request.auth.principal, values: [\"*\"]}]", c -> c, c -> c.principal(null));
    row(rows, "when request.auth.claims[]", Kind.UNSUPPORTED,
        "when: [{key: \"request.auth.claims[iss]\", values: [\"x\"]}]", c -> c, c -> c.principal(null));
    row(rows, "when connection.sni", Kind.UNSUPPORTED,
        "when: [{key: connection.sni, values: [\"*\"]}]", c -> c, c -> c.principal(null));
    return rows.stream();
  }

  private static void row(List<Arguments> rows, String field, Kind kind, String rule,
      UnaryOperator<Client> matching, UnaryOperator<Client> other) {
    for (String action : List.of("ALLOW", "DENY")) {
      rows.add(Arguments.of(field, action, kind, rule, matching.apply(Client.BASE),
          other.apply(Client.BASE)));
    }
  }

  @ParameterizedTest(name = "{0} in {1}")
  @MethodSource("fields")
  void bothEnforcementPointsFollowIstio(String field, String action, Kind kind, String rule,
      Client matching, Client other) {
    String yaml = ap("production", "p", "action: " + action + "\nrules:\n- " + rule);
    boolean deny = action.equals("DENY");
    WorkloadAuthorizer waypoint = AuthorizationEngine.compile(Policies.authz(yaml),
        AuthorizationEngine.DEFAULT_ROOT_NAMESPACE, EnforcementPoint.WAYPOINT).forAttachedPolicies();
    WorkloadAuthorizer ztunnel = AuthorizationEngine.compile(Policies.authz(yaml))
        .forWorkload("production", PAYMENT);

    // HTTP at the waypoint
    boolean httpMatching = kind == Kind.UNSUPPORTED ? false : !deny;
    boolean httpOther = kind == Kind.UNSUPPORTED ? false : deny;
    assertThat(waypoint.check(matching.http()).allowed()).as("waypoint, HTTP, matching request")
        .isEqualTo(httpMatching);
    assertThat(waypoint.check(other.http()).allowed()).as("waypoint, HTTP, other request")
        .isEqualTo(httpOther);

    // a connection: ztunnel, and the waypoint on a TCP port — the same answer
    boolean connMatching = kind == Kind.L4 ? !deny : false;
    boolean connOther = kind == Kind.L4 ? deny : false;
    for (var point : List.of(Map.entry("ztunnel", ztunnel), Map.entry("waypoint TCP", waypoint))) {
      assertThat(point.getValue().check(matching.connection()).allowed())
          .as("%s, connection of the matching client", point.getKey()).isEqualTo(connMatching);
      assertThat(point.getValue().check(other.connection()).allowed())
          .as("%s, connection of the other client", point.getKey()).isEqualTo(connOther);
    }
  }

  private static InetAddress ip(String s) {
    return io.netty.util.NetUtil.createInetAddressFromIpAddressString(s);
  }
}
