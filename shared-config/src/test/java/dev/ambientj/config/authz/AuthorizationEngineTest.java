package dev.ambientj.config.authz;

import static dev.ambientj.config.authz.Policies.ap;
import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.util.Map;
import org.junit.jupiter.api.Test;

class AuthorizationEngineTest {
  private static final String GATEWAY = "spiffe://cluster.local/ns/production/sa/api-gateway";
  private static final String ORDERS = "spiffe://cluster.local/ns/production/sa/orders";
  private static final String TEST = "spiffe://cluster.local/ns/test/sa/client";
  private static final Map<String, String> PAYMENT = Map.of("app", "payment-service");

  private static InetAddress ip(String s) throws Exception {
    return InetAddress.getByName(s);
  }

  private static AuthzRequest req(String principal, String src, int port) throws Exception {
    return AuthzRequest.l4(principal, ip(src), ip("10.0.2.20"), port);
  }

  private static WorkloadAuthorizer payment(String yaml) {
    return AuthorizationEngine.compile(Policies.authz(yaml))
        .forWorkload("production", PAYMENT);
  }

  @Test
  void noPolicyAllows() throws Exception {
    AuthzVerdict v = payment("").check(req(ORDERS, "10.0.1.1", 8080));
    assertThat(v.allowed()).isTrue();
    assertThat(v.policy()).isNull();
  }

  @Test
  void seedPaymentAccessAllowsOnlyTheGateway() throws Exception {
    WorkloadAuthorizer a = payment(ap("production", "payment-access", """
        selector:
          matchLabels:
            app: payment-service
        rules:
        - from:
          - source:
              principals: ["cluster.local/ns/production/sa/api-gateway"]
        """));
    AuthzVerdict ok = a.check(req(GATEWAY, "10.0.1.1", 8080));
    assertThat(ok.allowed()).isTrue();
    assertThat(ok.policy()).isEqualTo("production/payment-access");
    assertThat(ok.action()).isEqualTo("ALLOW");
    AuthzVerdict no = a.check(req(ORDERS, "10.0.1.2", 8080));
    assertThat(no.allowed()).isFalse();
    assertThat(no.policy()).isNull();
    assertThat(a.check(req(null, "10.0.1.2", 8080)).allowed()).as("plaintext").isFalse();
  }

  @Test
  void selectorThatDoesNotMatchLeavesTheWorkloadAlone() throws Exception {
    WorkloadAuthorizer other = AuthorizationEngine.compile(Policies.authz(ap("production", "p", """
        selector:
          matchLabels:
            app: orders
        rules: []
        """))).forWorkload("production", PAYMENT);
    assertThat(other.isEmpty()).isTrue();
    assertThat(other.check(req(ORDERS, "10.0.1.1", 1)).allowed()).isTrue();
  }

  @Test
  void denyOnNamespaceBeatsAllow() throws Exception {
    WorkloadAuthorizer a = payment(ap("production", "allow-all", """
        action: ALLOW
        rules:
        - {}
        """) + ap("production", "deny-test", """
        action: DENY
        rules:
        - from:
          - source:
              namespaces: ["test"]
        """));
    AuthzVerdict v = a.check(req(TEST, "10.0.1.1", 8080));
    assertThat(v.allowed()).isFalse();
    assertThat(v.policy()).isEqualTo("production/deny-test");
    assertThat(v.action()).isEqualTo("DENY");
    assertThat(a.check(req(ORDERS, "10.0.1.1", 8080)).policy()).isEqualTo("production/allow-all");
  }

  @Test
  void allowWithoutRulesAllowsNothingAndDenyWithoutRulesDeniesNothing() throws Exception {
    assertThat(payment(ap("production", "nothing", "action: ALLOW\n"))
        .check(req(GATEWAY, "10.0.1.1", 1)).allowed()).isFalse();
    assertThat(payment(ap("production", "nothing", "action: DENY\n"))
        .check(req(GATEWAY, "10.0.1.1", 1)).allowed()).isTrue();
  }

  @Test
  void principalWildcardsAndNegations() throws Exception {
    WorkloadAuthorizer a = payment(ap("production", "p", """
        rules:
        - from:
          - source:
              principals: ["cluster.local/ns/production/*"]
              notPrincipals: ["*/sa/orders"]
        """));
    assertThat(a.check(req(GATEWAY, "10.0.1.1", 1)).allowed()).isTrue();
    assertThat(a.check(req(ORDERS, "10.0.1.1", 1)).allowed()).isFalse();
    assertThat(a.check(req(TEST, "10.0.1.1", 1)).allowed()).isFalse();
  }

  @Test
  void starPrincipalRequiresAnIdentityAndNotStarMatchesPlaintext() throws Exception {
    WorkloadAuthorizer any = payment(ap("production", "p", """
        rules:
        - from:
          - source:
              principals: ["*"]
        """));
    assertThat(any.check(req(ORDERS, "10.0.1.1", 1)).allowed()).isTrue();
    assertThat(any.check(req(null, "10.0.1.1", 1)).allowed()).isFalse();
    WorkloadAuthorizer strict = payment(ap("production", "strict", """
        action: DENY
        rules:
        - from:
          - source:
              notPrincipals: ["*"]
        """));
    assertThat(strict.check(req(null, "10.0.1.1", 1)).allowed()).isFalse();
    assertThat(strict.check(req(ORDERS, "10.0.1.1", 1)).allowed()).isTrue();
  }

  @Test
  void namespacesServiceAccountsAndNotNamespaces() throws Exception {
    WorkloadAuthorizer a = payment(ap("production", "p", """
        rules:
        - from:
          - source:
              namespaces: ["prod*"]
              notNamespaces: ["test"]
          - source:
              serviceAccounts: ["test/client"]
        """));
    assertThat(a.check(req(ORDERS, "10.0.1.1", 1)).allowed()).isTrue();
    assertThat(a.check(req(TEST, "10.0.1.1", 1)).allowed()).as("second source").isTrue();
    assertThat(a.check(req("spiffe://cluster.local/ns/test/sa/other", "10.0.1.1", 1)).allowed())
        .isFalse();
    assertThat(a.check(req(null, "10.0.1.1", 1)).allowed()).isFalse();
  }

  @Test
  void ipBlocksRemoteIpBlocksAndNegations() throws Exception {
    WorkloadAuthorizer a = payment(ap("production", "p", """
        rules:
        - from:
          - source:
              ipBlocks: ["10.0.1.0/24", "10.9.9.9"]
              notIpBlocks: ["10.0.1.128/25"]
        """));
    assertThat(a.check(req(ORDERS, "10.0.1.5", 1)).allowed()).isTrue();
    assertThat(a.check(req(ORDERS, "10.9.9.9", 1)).allowed()).isTrue();
    assertThat(a.check(req(ORDERS, "10.0.1.200", 1)).allowed()).isFalse();
    assertThat(a.check(req(ORDERS, "10.0.2.5", 1)).allowed()).isFalse();
    WorkloadAuthorizer remote = payment(ap("production", "p", """
        action: DENY
        rules:
        - from:
          - source:
              remoteIpBlocks: ["192.168.0.0/16"]
              notRemoteIpBlocks: ["192.168.7.0/24"]
        """));
    assertThat(remote.check(req(ORDERS, "192.168.1.1", 1)).allowed()).isFalse();
    assertThat(remote.check(req(ORDERS, "192.168.7.1", 1)).allowed()).isTrue();
  }

  @Test
  void portsAndNotPorts() throws Exception {
    WorkloadAuthorizer a = payment(ap("production", "p", """
        rules:
        - to:
          - operation:
              ports: ["8080", "9000"]
              notPorts: ["9000"]
        """));
    assertThat(a.check(req(ORDERS, "10.0.1.1", 8080)).allowed()).isTrue();
    assertThat(a.check(req(ORDERS, "10.0.1.1", 9000)).allowed()).isFalse();
    assertThat(a.check(req(ORDERS, "10.0.1.1", 7000)).allowed()).isFalse();
  }

  @Test
  void whenConditionsOnL4Keys() throws Exception {
    WorkloadAuthorizer a = payment(ap("production", "p", """
        rules:
        - when:
          - key: source.ip
            values: ["10.0.1.0/24"]
          - key: source.namespace
            values: ["production"]
          - key: source.principal
            notValues: ["cluster.local/ns/production/sa/orders"]
          - key: destination.ip
            values: ["10.0.2.0/24"]
          - key: destination.port
            values: ["8080"]
        """));
    assertThat(a.check(req(GATEWAY, "10.0.1.1", 8080)).allowed()).isTrue();
    assertThat(a.check(req(ORDERS, "10.0.1.1", 8080)).allowed()).isFalse();
    assertThat(a.check(req(GATEWAY, "10.0.3.1", 8080)).allowed()).isFalse();
    assertThat(a.check(req(GATEWAY, "10.0.1.1", 9090)).allowed()).isFalse();
    assertThat(a.check(req(TEST, "10.0.1.1", 8080)).allowed()).isFalse();
  }

  @Test
  void l7RuleInAllowNeverMatchesAtZtunnel() throws Exception {
    var engine = AuthorizationEngine.compile(Policies.authz(ap("production", "get-only", """
        selector:
          matchLabels:
            app: payment-service
        rules:
        - from:
          - source:
              principals: ["cluster.local/ns/production/sa/api-gateway"]
          to:
          - operation:
              methods: ["GET"]
        """)));
    AuthzVerdict v = engine.forWorkload("production", PAYMENT).check(req(GATEWAY, "10.0.1.1", 80));
    assertThat(v.allowed()).isFalse();
    assertThat(engine.problems()).singleElement().asString().contains("never matches");
    assertThat(engine.l7PoliciesFor("production", PAYMENT)).containsExactly("production/get-only");
  }

  @Test
  void l7RuleInDenyDeniesOnItsL4PartAtZtunnel() throws Exception {
    WorkloadAuthorizer a = payment(ap("production", "no-admin", """
        action: DENY
        rules:
        - from:
          - source:
              namespaces: ["test"]
          to:
          - operation:
              paths: ["/admin*"]
          when:
          - key: request.headers[x-debug]
            values: ["1"]
        """));
    assertThat(a.check(req(TEST, "10.0.1.1", 80)).allowed()).isFalse();
    assertThat(a.check(req(ORDERS, "10.0.1.1", 80)).allowed()).isTrue();
  }

  @Test
  void l7FieldsAreEvaluatedAtTheWaypoint() throws Exception {
    var engine = AuthorizationEngine.compile(Policies.authz(ap("production", "get-only", """
        rules:
        - to:
          - operation:
              methods: ["GET"]
              paths: ["/api/*"]
              hosts: ["Payment*"]
          when:
          - key: request.headers[X-User]
            values: ["alice"]
        """)), AuthorizationEngine.DEFAULT_ROOT_NAMESPACE, EnforcementPoint.WAYPOINT);
    WorkloadAuthorizer a = engine.forWorkload("production", PAYMENT);
    AuthzRequest get = new AuthzRequest(GATEWAY, ip("10.0.1.1"), null, ip("10.0.2.20"), 80,
        "payment-service", "GET", "/api/pay", Map.of("x-user", "alice")::get);
    assertThat(a.check(get).allowed()).isTrue();
    AuthzRequest post = new AuthzRequest(GATEWAY, ip("10.0.1.1"), null, ip("10.0.2.20"), 80,
        "payment-service", "POST", "/api/pay", Map.of("x-user", "alice")::get);
    assertThat(a.check(post).allowed()).isFalse();
    assertThat(engine.problems()).isEmpty();
  }

  @Test
  void rootNamespacePoliciesApplyEverywhereAndNamespacePoliciesOnlyAtHome() throws Exception {
    var engine = AuthorizationEngine.compile(Policies.authz(ap("istio-system", "global-deny", """
        action: DENY
        rules:
        - to:
          - operation:
              ports: ["23"]
        """) + ap("istio-system", "root-selector", """
        selector:
          matchLabels:
            app: payment-service
        action: DENY
        rules:
        - to:
          - operation:
              ports: ["24"]
        """) + ap("other", "elsewhere", """
        action: DENY
        rules:
        - {}
        """)));
    WorkloadAuthorizer p = engine.forWorkload("production", PAYMENT);
    assertThat(p.check(req(ORDERS, "10.0.1.1", 23)).policy()).isEqualTo("istio-system/global-deny");
    assertThat(p.check(req(ORDERS, "10.0.1.1", 24)).policy()).isEqualTo("istio-system/root-selector");
    assertThat(p.check(req(ORDERS, "10.0.1.1", 80)).allowed()).isTrue();
    assertThat(engine.forWorkload("production", Map.of()).check(req(ORDERS, "10.0.1.1", 24))
        .allowed()).isTrue();
  }

  @Test
  void auditIsReportedButNeverDecides() throws Exception {
    AuthzVerdict v = payment(ap("production", "watch", """
        action: AUDIT
        rules:
        - from:
          - source:
              namespaces: ["production"]
        """)).check(req(ORDERS, "10.0.1.1", 80));
    assertThat(v.allowed()).isTrue();
    assertThat(v.audits()).containsExactly("production/watch");
  }

  @Test
  void targetRefPoliciesAndCustomAreNotEnforcedAtZtunnel() throws Exception {
    var engine = AuthorizationEngine.compile(Policies.authz(ap("production", "at-waypoint", """
        targetRefs:
        - kind: Service
          group: ""
          name: payment-service
        rules: []
        """) + ap("production", "ext", """
        action: CUSTOM
        provider:
          name: opa
        rules:
        - {}
        """)));
    assertThat(engine.forWorkload("production", PAYMENT).isEmpty()).isTrue();
    assertThat(engine.problems()).anyMatch(s -> s.contains("CUSTOM"));
  }
}
