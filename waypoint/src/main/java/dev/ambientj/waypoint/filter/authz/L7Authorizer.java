package dev.ambientj.waypoint.filter.authz;

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
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * The L7 AuthorizationPolicies that apply to one service at this waypoint, compiled once per
 * snapshot.
 *
 * <p>Evaluation (Istio): any matching DENY policy denies; else, with no ALLOW policy, the request is
 * allowed; else it is allowed only if an ALLOW policy matches. AUDIT policies do not decide.
 * Within a policy, rules are OR-ed; within a rule {@code from}, {@code to} and {@code when} are
 * AND-ed; within {@code from} / {@code to} the entries are OR-ed; within a source / operation the
 * fields are AND-ed and each field's values OR-ed; {@code not…} fields must not match.
 *
 * <p>Unsupported: {@code action: CUSTOM} (the policy is ignored, with a reason) and
 * {@code requestPrincipals} / {@code request.auth.*} (no JWT authentication here): such a rule
 * fails closed — in an ALLOW policy it never matches, in a DENY policy it always matches — the
 * same choice ztunnel makes for attributes it cannot evaluate.
 */
public final class L7Authorizer {
  private record Compiled(String ref, boolean deny, List<Predicate<AuthzRequest>> rules) {
    boolean matches(AuthzRequest r) {
      for (Predicate<AuthzRequest> p : rules) {
        if (p.test(r)) {
          return true;
        }
      }
      return false;
    }
  }

  public static final L7Authorizer ALLOW_ALL = new L7Authorizer(List.of(), List.of());

  private final List<Compiled> denies;
  private final List<Compiled> allows;

  private L7Authorizer(List<Compiled> denies, List<Compiled> allows) {
    this.denies = denies;
    this.allows = allows;
  }

  public boolean isEmpty() {
    return denies.isEmpty() && allows.isEmpty();
  }

  public static String ref(AuthorizationPolicy p) {
    return "AuthorizationPolicy " + p.getMetadata().getNamespace() + "/" + p.getMetadata().getName();
  }

  /** Compiles the policies; unsupported parts are reported to {@code problems}. */
  public static L7Authorizer compile(List<AuthorizationPolicy> policies, Consumer<String> problems) {
    List<Compiled> denies = new ArrayList<>();
    List<Compiled> allows = new ArrayList<>();
    for (AuthorizationPolicy p : policies) {
      var spec = p.getSpec();
      if (spec == null) {
        continue;
      }
      String ref = ref(p);
      AuthorizationPolicyAction action = spec.getAction() == null ? AuthorizationPolicyAction.ALLOW : spec.getAction();
      if (action == AuthorizationPolicyAction.CUSTOM) {
        problems.accept(ref + ": spec.action: CUSTOM is not supported by the waypoint (out of scope for now); policy ignored");
        continue;
      }
      if (action == AuthorizationPolicyAction.AUDIT) {
        continue;
      }
      boolean deny = action == AuthorizationPolicyAction.DENY;
      List<Predicate<AuthzRequest>> rules = new ArrayList<>();
      List<Rule> rs = spec.getRules() == null ? List.of() : spec.getRules();
      for (int i = 0; i < rs.size(); i++) {
        rules.add(rule(rs.get(i), deny, ref + ": spec.rules[" + i + "]", problems));
      }
      String name = p.getMetadata().getNamespace() + "/" + p.getMetadata().getName();
      (deny ? denies : allows).add(new Compiled(name, deny, List.copyOf(rules)));
    }
    return new L7Authorizer(List.copyOf(denies), List.copyOf(allows));
  }

  public AuthzVerdict check(AuthzRequest r) {
    for (Compiled c : denies) {
      if (c.matches(r)) {
        return new AuthzVerdict(false, c.ref, "denied by " + c.ref);
      }
    }
    if (allows.isEmpty()) {
      return AuthzVerdict.ALLOW_NO_POLICY;
    }
    for (Compiled c : allows) {
      if (c.matches(r)) {
        return new AuthzVerdict(true, c.ref, "allowed by " + c.ref);
      }
    }
    return new AuthzVerdict(false, null, "no ALLOW policy matched");
  }

  private static Predicate<AuthzRequest> rule(Rule rule, boolean deny, String field, Consumer<String> problems) {
    List<Predicate<AuthzRequest>> and = new ArrayList<>();
    boolean[] unsupported = {false};
    Consumer<String> unsup = msg -> {
      unsupported[0] = true;
      problems.accept(field + msg + " is not supported by the waypoint (JWT authentication is out of scope for now); the rule "
          + (deny ? "matches every request" : "matches no request"));
    };
    if (rule.getFrom() != null && !rule.getFrom().isEmpty()) {
      List<Predicate<AuthzRequest>> or = new ArrayList<>();
      for (int i = 0; i < rule.getFrom().size(); i++) {
        RuleFrom f = rule.getFrom().get(i);
        if (f.getSource() != null) {
          or.add(source(f.getSource(), field + ".from[" + i + "].source", unsup));
        }
      }
      and.add(anyOf(or));
    }
    if (rule.getTo() != null && !rule.getTo().isEmpty()) {
      List<Predicate<AuthzRequest>> or = new ArrayList<>();
      for (RuleTo t : rule.getTo()) {
        if (t.getOperation() != null) {
          or.add(operation(t.getOperation(), deny));
        }
      }
      and.add(anyOf(or));
    }
    if (rule.getWhen() != null) {
      for (int i = 0; i < rule.getWhen().size(); i++) {
        Predicate<AuthzRequest> c = condition(rule.getWhen().get(i), field + ".when[" + i + "]", unsup, deny);
        if (c != null) {
          and.add(c);
        }
      }
    }
    if (unsupported[0]) {
      return r -> deny;
    }
    return allOf(and);
  }

  private static Predicate<AuthzRequest> source(Source s, String field, Consumer<String> unsup) {
    List<Predicate<AuthzRequest>> and = new ArrayList<>();
    if (nonEmpty(s.getRequestPrincipals()) || nonEmpty(s.getNotRequestPrincipals())) {
      unsup.accept(".requestPrincipals");
    }
    strings(and, s.getPrincipals(), s.getNotPrincipals(), AuthzRequest::principal, false);
    strings(and, s.getNamespaces(), s.getNotNamespaces(), AuthzRequest::sourceNamespace, false);
    ips(and, s.getIpBlocks(), s.getNotIpBlocks(), AuthzRequest::sourceIp);
    ips(and, s.getRemoteIpBlocks(), s.getNotRemoteIpBlocks(), AuthzRequest::sourceIp);
    if (nonEmpty(s.getServiceAccounts()) || nonEmpty(s.getNotServiceAccounts())) {
      strings(and, s.getServiceAccounts(), s.getNotServiceAccounts(), L7Authorizer::serviceAccountOf, false);
    }
    return allOf(and);
  }

  /** {@code ns/sa} of the source principal. */
  private static String serviceAccountOf(AuthzRequest r) {
    if (r.principal() == null) {
      return null;
    }
    String[] parts = r.principal().split("/");
    return parts.length == 5 ? parts[2] + "/" + parts[4] : null;
  }

  private static Predicate<AuthzRequest> operation(Operation o, boolean deny) {
    List<Predicate<AuthzRequest>> http = new ArrayList<>();
    strings(http, o.getHosts(), o.getNotHosts(), AuthzRequest::host, true);
    strings(http, o.getMethods(), o.getNotMethods(), AuthzRequest::method, false);
    strings(http, o.getPaths(), o.getNotPaths(), AuthzRequest::path, false);
    List<Predicate<AuthzRequest>> and = new ArrayList<>();
    for (Predicate<AuthzRequest> p : http) {
      and.add(httpOnly(p, deny));
    }
    strings(and, o.getPorts(), o.getNotPorts(), r -> Integer.toString(r.port()), false);
    return allOf(and);
  }

  /** On a TCP connection an HTTP-only condition fails closed: true in a DENY rule, false in an ALLOW rule. */
  private static Predicate<AuthzRequest> httpOnly(Predicate<AuthzRequest> p, boolean deny) {
    return r -> r.tcp() ? deny : p.test(r);
  }

  private static Predicate<AuthzRequest> condition(Condition c, String field, Consumer<String> unsup, boolean deny) {
    String key = c.getKey() == null ? "" : c.getKey();
    Function<AuthzRequest, String> attr;
    boolean ip = false;
    if (key.startsWith("request.headers[") && key.endsWith("]")) {
      String h = key.substring("request.headers[".length(), key.length() - 1).toLowerCase(Locale.ROOT);
      attr = r -> r.headers().get(h);
    } else {
      switch (key) {
        case "source.ip", "remote.ip" -> {
          ip = true;
          attr = null;
        }
        case "source.namespace" -> attr = AuthzRequest::sourceNamespace;
        case "source.principal" -> attr = AuthzRequest::principal;
        case "destination.port" -> attr = r -> Integer.toString(r.port());
        case "destination.ip" -> {
          List<Predicate<AuthzRequest>> and = new ArrayList<>();
          ips(and, c.getValues(), c.getNotValues(), AuthzRequest::destinationIp);
          return allOf(and);
        }
        default -> {
          unsup.accept(".key " + key);
          return null;
        }
      }
    }
    List<Predicate<AuthzRequest>> and = new ArrayList<>();
    if (ip) {
      ips(and, c.getValues(), c.getNotValues(), AuthzRequest::sourceIp);
    } else {
      strings(and, c.getValues(), c.getNotValues(), attr, false);
    }
    Predicate<AuthzRequest> p = allOf(and);
    return key.startsWith("request.headers[") ? httpOnly(p, deny) : p;
  }

  private static void strings(List<Predicate<AuthzRequest>> and, List<String> values, List<String> notValues,
      Function<AuthzRequest, String> attr, boolean ignoreCase) {
    if (nonEmpty(values)) {
      List<ValueMatcher> ms = values.stream().map(v -> ValueMatcher.of(v, ignoreCase)).toList();
      and.add(r -> {
        String v = attr.apply(r);
        for (ValueMatcher m : ms) {
          if (m.matches(v)) {
            return true;
          }
        }
        return false;
      });
    }
    if (nonEmpty(notValues)) {
      List<ValueMatcher> ms = notValues.stream().map(v -> ValueMatcher.of(v, ignoreCase)).toList();
      and.add(r -> {
        String v = attr.apply(r);
        for (ValueMatcher m : ms) {
          if (m.matches(v)) {
            return false;
          }
        }
        return true;
      });
    }
  }

  private static void ips(List<Predicate<AuthzRequest>> and, List<String> values, List<String> notValues,
      Function<AuthzRequest, InetAddress> attr) {
    if (nonEmpty(values)) {
      List<Cidr> cs = values.stream().map(Cidr::parse).toList();
      and.add(r -> cs.stream().anyMatch(c -> c.contains(attr.apply(r))));
    }
    if (nonEmpty(notValues)) {
      List<Cidr> cs = notValues.stream().map(Cidr::parse).toList();
      and.add(r -> cs.stream().noneMatch(c -> c.contains(attr.apply(r))));
    }
  }

  private static boolean nonEmpty(List<?> l) {
    return l != null && !l.isEmpty();
  }

  private static Predicate<AuthzRequest> allOf(List<Predicate<AuthzRequest>> ps) {
    List<Predicate<AuthzRequest>> copy = List.copyOf(ps);
    return r -> {
      for (Predicate<AuthzRequest> p : copy) {
        if (!p.test(r)) {
          return false;
        }
      }
      return true;
    };
  }

  private static Predicate<AuthzRequest> anyOf(List<Predicate<AuthzRequest>> ps) {
    List<Predicate<AuthzRequest>> copy = List.copyOf(ps);
    return r -> {
      for (Predicate<AuthzRequest> p : copy) {
        if (p.test(r)) {
          return true;
        }
      }
      return false;
    };
  }
}
