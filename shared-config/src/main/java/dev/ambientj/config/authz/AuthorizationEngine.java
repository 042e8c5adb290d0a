package dev.ambientj.config.authz;

import io.fabric8.istio.api.api.security.v1beta1.AuthorizationPolicyAction;
import io.fabric8.istio.api.api.security.v1beta1.Condition;
import io.fabric8.istio.api.api.security.v1beta1.Operation;
import io.fabric8.istio.api.api.security.v1beta1.Rule;
import io.fabric8.istio.api.api.security.v1beta1.RuleFrom;
import io.fabric8.istio.api.api.security.v1beta1.RuleTo;
import io.fabric8.istio.api.api.security.v1beta1.Source;
import io.fabric8.istio.api.security.v1.AuthorizationPolicy;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * Istio {@code AuthorizationPolicy} semantics, compiled once per snapshot into immutable matchers
 * and indexed by scope: the one policy engine of both proxies. ztunnel enforces it per connection
 * (L4 attributes), the waypoint per HTTP request (L4 and L7) and per connection on its TCP ports.
 *
 * <p><b>Scopes.</b> A policy in the root namespace ({@value #DEFAULT_ROOT_NAMESPACE} unless
 * configured) applies to every namespace; elsewhere to its own namespace; a {@code selector}
 * narrows either to the workloads whose labels contain {@code matchLabels}. At
 * {@link EnforcementPoint#ZTUNNEL}, policies with {@code targetRef(s)} belong to a waypoint and are
 * skipped; at {@link EnforcementPoint#WAYPOINT} the caller passes the policies attached to the
 * waypoint or its service and takes them all ({@link #forAttachedPolicies()}).
 *
 * <p><b>Decision</b> (Istio; ISTIO-FACTS §4 step 5): any matching DENY denies; else with no ALLOW
 * policy the traffic is allowed; else some ALLOW must match. AUDIT policies never decide: their
 * matches are reported in the verdict. CUSTOM (ext_authz) cannot be enforced here: the policy is
 * rejected with a problem naming it, and does not take part.
 *
 * <p><b>Matching.</b> Rules are OR-ed; within a rule {@code from}, {@code to} and each {@code when}
 * are AND-ed; entries of {@code from} / {@code to} are OR-ed; fields of a source / operation are
 * AND-ed, the values of one field OR-ed, and a {@code not…} field must match none of its values.
 * A policy without rules matches nothing (an ALLOW without rules is "allow nothing"); an empty
 * rule matches everything. Principals are compared without {@code spiffe://}; with no identity,
 * positive principal / namespace fields fail and negative ones hold (so {@code notPrincipals: ["*"]}
 * in a DENY refuses plaintext, as istiod's {@code istio_converted_static_strict}). String values
 * take Istio's {@code *}, {@code prefix*} and {@code *suffix} forms ({@link StringMatcher}); hosts
 * compare case-insensitively; IP values are {@link CidrBlock}s.
 *
 * <p><b>L7 attributes on a connection.</b> Each rule is compiled in two views: the full one (HTTP
 * requests at the waypoint) and the L4 one (connections: ztunnel, the waypoint's TCP ports), in
 * which a rule that reads L7 attributes fails safe as Istio specifies ({@link EnforcementPoint}):
 * in an ALLOW policy it never matches, in a DENY policy it matches on its L4 attributes alone.
 * Attributes no point can evaluate ({@code requestPrincipals}, {@code request.auth.*}, an unknown
 * {@code when} key, a value that does not parse) make the rule fail closed at the waypoint: an
 * ALLOW rule matches nothing, a DENY rule everything.
 *
 * <p>Immutable and thread-safe; evaluation allocates nothing but the verdict.
 */
public final class AuthorizationEngine {
  public static final String DEFAULT_ROOT_NAMESPACE = "istio-system";

  public static final AuthorizationEngine EMPTY =
      new AuthorizationEngine(DEFAULT_ROOT_NAMESPACE, List.of(), Map.of(), List.of());

  enum Action { ALLOW, DENY, AUDIT }

  /** One rule: its L4 view (connections) and its full view (HTTP requests). */
  record CompiledRule(Predicate<AuthzRequest> l4, Predicate<AuthzRequest> full) {
    boolean matches(AuthzRequest r) {
      return (r.isHttp() ? full : l4).test(r);
    }
  }

  record Compiled(String ref, Action action, Map<String, String> selector,
      List<CompiledRule> rules, boolean usesL7) {
    boolean selects(Map<String, String> labels) {
      if (selector.isEmpty()) {
        return true;
      }
      for (Map.Entry<String, String> e : selector.entrySet()) {
        if (!e.getValue().equals(labels.get(e.getKey()))) {
          return false;
        }
      }
      return true;
    }

    boolean matches(AuthzRequest r) {
      for (CompiledRule rule : rules) {
        if (rule.matches(r)) {
          return true;
        }
      }
      return false;
    }
  }

  private final String rootNamespace;
  private final List<Compiled> root;
  private final Map<String, List<Compiled>> byNamespace;
  private final List<String> problems;

  private AuthorizationEngine(String rootNamespace, List<Compiled> root,
      Map<String, List<Compiled>> byNamespace, List<String> problems) {
    this.rootNamespace = rootNamespace;
    this.root = root;
    this.byNamespace = byNamespace;
    this.problems = problems;
  }

  /** Compiles for ztunnel with the default root namespace. */
  public static AuthorizationEngine compile(List<AuthorizationPolicy> policies) {
    return compile(policies, DEFAULT_ROOT_NAMESPACE, EnforcementPoint.ZTUNNEL);
  }

  /**
   * Compiles {@code policies}. What cannot be enforced (CUSTOM, unparsable values, L7 fields at
   * ztunnel) is listed in {@link #problems()}, naming the policy and the field.
   */
  public static AuthorizationEngine compile(List<AuthorizationPolicy> policies,
      String rootNamespace, EnforcementPoint point) {
    List<String> problems = new ArrayList<>();
    List<Compiled> root = new ArrayList<>();
    Map<String, List<Compiled>> byNs = new HashMap<>();
    for (AuthorizationPolicy p : policies) {
      Compiled c = compileOne(p, point, problems::add);
      if (c == null) {
        continue;
      }
      String ns = p.getMetadata().getNamespace();
      if (ns == null || ns.equals(rootNamespace)) {
        root.add(c);
      } else {
        byNs.computeIfAbsent(ns, k -> new ArrayList<>()).add(c);
      }
    }
    Map<String, List<Compiled>> frozen = new HashMap<>();
    byNs.forEach((k, v) -> frozen.put(k, List.copyOf(v)));
    return new AuthorizationEngine(rootNamespace, List.copyOf(root), Map.copyOf(frozen),
        List.copyOf(problems));
  }

  public String rootNamespace() {
    return rootNamespace;
  }

  /** What could not be enforced as written, one operator-facing line each. */
  public List<String> problems() {
    return problems;
  }

  /** Whether no policy at all is enforced here. */
  public boolean isEmpty() {
    return root.isEmpty() && byNamespace.isEmpty();
  }

  /**
   * The policies that apply to a workload (root-namespace ones, then its namespace's), selected by
   * its labels. Meant to be computed once per workload and snapshot, then checked per connection.
   */
  public WorkloadAuthorizer forWorkload(String namespace, Map<String, String> labels) {
    List<Compiled> deny = new ArrayList<>();
    List<Compiled> allow = new ArrayList<>();
    List<Compiled> audit = new ArrayList<>();
    List<Compiled> ns = byNamespace.getOrDefault(namespace, List.of());
    for (List<Compiled> scope : List.of(root, ns)) {
      for (Compiled c : scope) {
        if (!c.selects(labels)) {
          continue;
        }
        switch (c.action()) {
          case DENY -> deny.add(c);
          case ALLOW -> allow.add(c);
          case AUDIT -> audit.add(c);
        }
      }
    }
    return new WorkloadAuthorizer(List.copyOf(deny), List.copyOf(allow), List.copyOf(audit));
  }

  /**
   * Every compiled policy, whatever its scope: the waypoint's authorizer for one service, given
   * exactly the policies attached to it (compiled at {@link EnforcementPoint#WAYPOINT}).
   */
  public WorkloadAuthorizer forAttachedPolicies() {
    List<Compiled> deny = new ArrayList<>();
    List<Compiled> allow = new ArrayList<>();
    List<Compiled> audit = new ArrayList<>();
    List<List<Compiled>> scopes = new ArrayList<>();
    scopes.add(root);
    byNamespace.keySet().stream().sorted().forEach(ns -> scopes.add(byNamespace.get(ns)));
    for (List<Compiled> scope : scopes) {
      for (Compiled c : scope) {
        switch (c.action()) {
          case DENY -> deny.add(c);
          case ALLOW -> allow.add(c);
          case AUDIT -> audit.add(c);
        }
      }
    }
    return new WorkloadAuthorizer(List.copyOf(deny), List.copyOf(allow), List.copyOf(audit));
  }

  /** The names ({@code ns/name}) of the policies that apply to a workload and use L7 fields. */
  public List<String> l7PoliciesFor(String namespace, Map<String, String> labels) {
    List<String> out = new ArrayList<>();
    for (List<Compiled> scope : List.of(root, byNamespace.getOrDefault(namespace, List.of()))) {
      for (Compiled c : scope) {
        if (c.usesL7() && c.selects(labels)) {
          out.add(c.ref());
        }
      }
    }
    return out;
  }

  /** Whether a policy uses any attribute only a waypoint can see (paths, methods, headers…). */
  public static boolean usesL7Fields(AuthorizationPolicy p) {
    boolean[] l7 = {false};
    compileOne(p, EnforcementPoint.ZTUNNEL, s -> {}, l7);
    return l7[0];
  }

  /** Whether a policy is attached to a waypoint ({@code targetRef} / {@code targetRefs}). */
  public static boolean isWaypointPolicy(AuthorizationPolicy p) {
    var spec = p.getSpec();
    return spec != null && (spec.getTargetRef() != null
        || (spec.getTargetRefs() != null && !spec.getTargetRefs().isEmpty()));
  }

  private static Compiled compileOne(AuthorizationPolicy p, EnforcementPoint point,
      Consumer<String> problems) {
    return compileOne(p, point, problems, new boolean[1]);
  }

  private static Compiled compileOne(AuthorizationPolicy p, EnforcementPoint point,
      Consumer<String> problems, boolean[] usesL7) {
    var spec = p.getSpec();
    String ref = p.getMetadata().getNamespace() + "/" + p.getMetadata().getName();
    String obj = "AuthorizationPolicy " + ref;
    if (spec == null) {
      return null;
    }
    if (point == EnforcementPoint.ZTUNNEL && isWaypointPolicy(p)) {
      return null;
    }
    AuthorizationPolicyAction a = spec.getAction() == null ? AuthorizationPolicyAction.ALLOW
        : spec.getAction();
    if (a == AuthorizationPolicyAction.CUSTOM) {
      problems.accept(obj + ": spec.action: CUSTOM is not supported by " + pointName(point)
          + " (external authorization" + (spec.getActionDetail() == null ? "" : " provider "
          + provider(spec)) + " is not available here); policy rejected, not enforced");
      return null;
    }
    Action action = switch (a) {
      case DENY -> Action.DENY;
      case AUDIT -> Action.AUDIT;
      default -> Action.ALLOW;
    };
    Map<String, String> selector = spec.getSelector() == null
        || spec.getSelector().getMatchLabels() == null ? Map.of()
        : Map.copyOf(spec.getSelector().getMatchLabels());
    List<CompiledRule> rules = new ArrayList<>();
    List<Rule> rs = spec.getRules() == null ? List.of() : spec.getRules();
    for (int i = 0; i < rs.size(); i++) {
      String field = obj + ": spec.rules[" + i + "]";
      // the L4 view reports its problems at ztunnel; at the waypoint the full view does
      RuleCompiler l4 = new RuleCompiler(false, action, field,
          point == EnforcementPoint.ZTUNNEL ? problems : s -> {});
      Predicate<AuthzRequest> l4View = l4.rule(rs.get(i));
      Predicate<AuthzRequest> fullView = l4View;
      if (point == EnforcementPoint.WAYPOINT) {
        fullView = new RuleCompiler(true, action, field, problems).rule(rs.get(i));
      }
      rules.add(new CompiledRule(l4View, fullView));
      usesL7[0] |= l4.l7;
    }
    return new Compiled(ref, action, selector, List.copyOf(rules), usesL7[0]);
  }

  private static String provider(io.fabric8.istio.api.api.security.v1beta1.AuthorizationPolicy spec) {
    Object d = spec.getActionDetail();
    if (d instanceof io.fabric8.istio.api.api.security.v1beta1.AuthorizationPolicyProvider p
        && p.getProvider() != null) {
      return "\"" + p.getProvider().getName() + "\"";
    }
    return String.valueOf(d);
  }

  private static String pointName(EnforcementPoint point) {
    return point == EnforcementPoint.ZTUNNEL ? "ztunnel" : "the waypoint";
  }

  /**
   * Compiles one view of one rule: with {@code l7Visible} every attribute, else the L4 view (L7
   * attributes are not compiled; the rule then fails safe). Remembers whether the rule read an
   * attribute only HTTP requests have.
   */
  private static final class RuleCompiler {
    private final boolean l7Visible;
    private final Action action;
    private final String field;
    private final Consumer<String> problems;
    boolean l7;
    boolean invalid;

    RuleCompiler(boolean l7Visible, Action action, String field, Consumer<String> problems) {
      this.l7Visible = l7Visible;
      this.action = action;
      this.field = field;
      this.problems = problems;
    }

    Predicate<AuthzRequest> rule(Rule rule) {
      List<Predicate<AuthzRequest>> and = new ArrayList<>();
      if (rule.getFrom() != null && !rule.getFrom().isEmpty()) {
        List<Predicate<AuthzRequest>> or = new ArrayList<>();
        for (int i = 0; i < rule.getFrom().size(); i++) {
          RuleFrom f = rule.getFrom().get(i);
          or.add(f.getSource() == null ? r -> true
              : source(f.getSource(), ".from[" + i + "].source"));
        }
        and.add(anyOf(or));
      }
      if (rule.getTo() != null && !rule.getTo().isEmpty()) {
        List<Predicate<AuthzRequest>> or = new ArrayList<>();
        for (int i = 0; i < rule.getTo().size(); i++) {
          RuleTo t = rule.getTo().get(i);
          or.add(t.getOperation() == null ? r -> true
              : operation(t.getOperation(), ".to[" + i + "].operation"));
        }
        and.add(anyOf(or));
      }
      if (rule.getWhen() != null) {
        for (int i = 0; i < rule.getWhen().size(); i++) {
          Predicate<AuthzRequest> c = condition(rule.getWhen().get(i), ".when[" + i + "]");
          if (c != null) {
            and.add(c);
          }
        }
      }
      if (invalid) {
        // Fail closed: an ALLOW rule that cannot be evaluated allows nothing, a DENY denies all.
        boolean deny = action == Action.DENY;
        return r -> deny;
      }
      if (l7 && !l7Visible && action != Action.DENY) {
        problems.accept(field + ": uses L7 attributes, which ztunnel cannot see; in an "
            + action + " policy the rule never matches (deploy a waypoint to enforce it)");
        return r -> false;
      }
      if (l7 && !l7Visible) {
        problems.accept(field + ": uses L7 attributes, which ztunnel cannot see; in a DENY policy"
            + " they are ignored and the rule denies on its L4 attributes alone");
      }
      return allOf(and);
    }

    private Predicate<AuthzRequest> source(Source s, String f) {
      List<Predicate<AuthzRequest>> and = new ArrayList<>();
      strings(and, s.getPrincipals(), s.getNotPrincipals(), AuthzRequest::principal, false);
      strings(and, s.getNamespaces(), s.getNotNamespaces(), AuthzRequest::sourceNamespace, false);
      strings(and, s.getServiceAccounts(), s.getNotServiceAccounts(),
          AuthzRequest::sourceServiceAccount, false);
      ips(and, s.getIpBlocks(), s.getNotIpBlocks(), AuthzRequest::sourceIp, f + ".ipBlocks");
      ips(and, s.getRemoteIpBlocks(), s.getNotRemoteIpBlocks(), AuthzRequest::remoteIp,
          f + ".remoteIpBlocks");
      if (nonEmpty(s.getRequestPrincipals()) || nonEmpty(s.getNotRequestPrincipals())) {
        unsupportedEverywhere(f + ".requestPrincipals", "JWT authentication is not implemented");
      }
      return allOf(and);
    }

    private Predicate<AuthzRequest> operation(Operation o, String f) {
      List<Predicate<AuthzRequest>> and = new ArrayList<>();
      ports(and, o.getPorts(), o.getNotPorts(), f + ".ports");
      if (l7Field(o.getHosts(), o.getNotHosts())) {
        strings(and, o.getHosts(), o.getNotHosts(), AuthzRequest::host, true);
      }
      if (l7Field(o.getMethods(), o.getNotMethods())) {
        strings(and, o.getMethods(), o.getNotMethods(), AuthzRequest::method, false);
      }
      if (l7Field(o.getPaths(), o.getNotPaths())) {
        strings(and, o.getPaths(), o.getNotPaths(), AuthzRequest::path, false);
      }
      return allOf(and);
    }

    private Predicate<AuthzRequest> condition(Condition c, String f) {
      String key = c.getKey() == null ? "" : c.getKey();
      List<String> values = c.getValues();
      List<String> notValues = c.getNotValues();
      List<Predicate<AuthzRequest>> and = new ArrayList<>();
      switch (key) {
        case "source.ip" -> ips(and, values, notValues, AuthzRequest::sourceIp, f);
        case "remote.ip" -> ips(and, values, notValues, AuthzRequest::remoteIp, f);
        case "destination.ip" -> ips(and, values, notValues, AuthzRequest::destinationIp, f);
        case "destination.port" -> ports(and, values, notValues, f);
        case "source.namespace" ->
            strings(and, values, notValues, AuthzRequest::sourceNamespace, false);
        case "source.principal" -> strings(and, values, notValues, AuthzRequest::principal, false);
        case "source.serviceAccount" ->
            strings(and, values, notValues, AuthzRequest::sourceServiceAccount, false);
        default -> {
          if (key.startsWith("request.headers[") && key.endsWith("]")) {
            if (l7Field(values, notValues)) {
              String h = key.substring("request.headers[".length(), key.length() - 1)
                  .toLowerCase(Locale.ROOT);
              strings(and, values, notValues, r -> r.header(h), false);
            }
          } else if (key.startsWith("request.auth.") || key.startsWith("experimental.")
              || key.equals("connection.sni")) {
            unsupportedEverywhere(f + " (key " + key + ")", "not implemented");
          } else {
            problems.accept(field + f + ": unknown key \"" + key + "\"; the rule fails closed");
            invalid = true;
          }
        }
      }
      return and.isEmpty() ? null : allOf(and);
    }

    /** Whether an L7 field is present and should be compiled (only in the full view). */
    private boolean l7Field(List<String> values, List<String> notValues) {
      if (!nonEmpty(values) && !nonEmpty(notValues)) {
        return false;
      }
      l7 = true;
      return l7Visible;
    }

    private void unsupportedEverywhere(String f, String why) {
      if (!l7Visible) {
        l7 = true; // request-level attributes: same fail-safe as any L7 field on a connection
        return;
      }
      problems.accept(field + f + ": " + why + "; the rule fails closed (it "
          + (action == Action.DENY ? "matches every request" : "matches no request") + ")");
      invalid = true;
    }

    private void strings(List<Predicate<AuthzRequest>> and, List<String> values,
        List<String> notValues, Function<AuthzRequest, String> attr, boolean ignoreCase) {
      if (!nonEmpty(values) && !nonEmpty(notValues)) {
        return;
      }
      List<StringMatcher> yes = matchers(values, ignoreCase);
      List<StringMatcher> no = matchers(notValues, ignoreCase);
      and.add(r -> field(yes, no, attr.apply(r)));
    }

    private void ips(List<Predicate<AuthzRequest>> and, List<String> values,
        List<String> notValues, Function<AuthzRequest, InetAddress> attr, String f) {
      if (!nonEmpty(values) && !nonEmpty(notValues)) {
        return;
      }
      List<CidrBlock> yes = cidrs(values, f);
      List<CidrBlock> no = cidrs(notValues, f);
      and.add(r -> {
        InetAddress a = attr.apply(r);
        return (yes == null || anyContains(yes, a)) && (no == null || !anyContains(no, a));
      });
    }

    private void ports(List<Predicate<AuthzRequest>> and, List<String> values,
        List<String> notValues, String f) {
      if (!nonEmpty(values) && !nonEmpty(notValues)) {
        return;
      }
      int[] yes = portList(values, f);
      int[] no = portList(notValues, f);
      and.add(r -> (yes == null || contains(yes, r.destinationPort()))
          && (no == null || !contains(no, r.destinationPort())));
    }

    private List<CidrBlock> cidrs(List<String> values, String f) {
      if (!nonEmpty(values)) {
        return null;
      }
      List<CidrBlock> out = new ArrayList<>();
      for (String v : values) {
        try {
          out.add(CidrBlock.parse(v));
        } catch (IllegalArgumentException e) {
          problems.accept(field + f + ": " + e.getMessage() + "; the rule fails closed");
          invalid = true;
        }
      }
      return List.copyOf(out);
    }

    private int[] portList(List<String> values, String f) {
      if (!nonEmpty(values)) {
        return null;
      }
      int[] out = new int[values.size()];
      for (int i = 0; i < out.length; i++) {
        try {
          out[i] = Integer.parseInt(values.get(i).trim());
        } catch (NumberFormatException e) {
          problems.accept(field + f + ": \"" + values.get(i) + "\" is not a port number; the rule"
              + " fails closed");
          invalid = true;
          out[i] = -1;
        }
      }
      return out;
    }
  }

  private static boolean field(List<StringMatcher> yes, List<StringMatcher> no, String value) {
    if (yes != null && !anyMatches(yes, value)) {
      return false;
    }
    return no == null || !anyMatches(no, value);
  }

  private static List<StringMatcher> matchers(List<String> values, boolean ignoreCase) {
    if (!nonEmpty(values)) {
      return null;
    }
    List<StringMatcher> out = new ArrayList<>();
    for (String v : values) {
      out.add(StringMatcher.parse(v, ignoreCase));
    }
    return List.copyOf(out);
  }

  private static boolean anyMatches(List<StringMatcher> ms, String value) {
    for (StringMatcher m : ms) {
      if (m.matches(value)) {
        return true;
      }
    }
    return false;
  }

  private static boolean anyContains(List<CidrBlock> blocks, InetAddress a) {
    for (CidrBlock b : blocks) {
      if (b.contains(a)) {
        return true;
      }
    }
    return false;
  }

  private static boolean contains(int[] ports, int port) {
    for (int p : ports) {
      if (p == port) {
        return true;
      }
    }
    return false;
  }

  private static boolean nonEmpty(List<?> l) {
    return l != null && !l.isEmpty();
  }

  private static Predicate<AuthzRequest> anyOf(List<Predicate<AuthzRequest>> ps) {
    List<Predicate<AuthzRequest>> list = List.copyOf(ps);
    return r -> {
      for (Predicate<AuthzRequest> p : list) {
        if (p.test(r)) {
          return true;
        }
      }
      return false;
    };
  }

  private static Predicate<AuthzRequest> allOf(List<Predicate<AuthzRequest>> ps) {
    List<Predicate<AuthzRequest>> list = List.copyOf(ps);
    if (list.isEmpty()) {
      return r -> true;
    }
    return r -> {
      for (Predicate<AuthzRequest> p : list) {
        if (!p.test(r)) {
          return false;
        }
      }
      return true;
    };
  }
}
