package dev.ambientj.waypoint.route;

import dev.ambientj.config.model.GoDuration;
import dev.ambientj.config.model.MeshSnapshot;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPHeader;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPHeaderFilter;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRouteFilter;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.ParentReference;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Compiles Gateway API HTTPRoute and GRPCRoute rules bound to a Service (GAMMA: a
 * {@code parentRef} of kind Service) into {@link Route}s.
 *
 * <p>Matches within a rule are OR-ed, conditions within a match AND-ed, as in the spec. Rule
 * order is kept as written (the spec's precedence sort across several routes is approximated by
 * ordering the routes by creation time, then name). {@code hostnames} are not used for mesh routing.
 */
public final class GatewayRouteCompiler {
  private GatewayRouteCompiler() {}

  public static String ref(HTTPRoute r) {
    return "HTTPRoute " + r.getMetadata().getNamespace() + "/" + r.getMetadata().getName();
  }

  public static String ref(GRPCRoute r) {
    return "GRPCRoute " + r.getMetadata().getNamespace() + "/" + r.getMetadata().getName();
  }

  /**
   * The service ports a route's parentRefs bind it to for the service {@code name.ns}: empty when
   * not bound, a set containing 0 when bound to every port.
   */
  public static Set<Integer> boundPorts(List<ParentReference> parents, String routeNs, String svcName, String svcNs) {
    java.util.HashSet<Integer> ports = new java.util.HashSet<>();
    if (parents == null) {
      return ports;
    }
    for (ParentReference p : parents) {
      String kind = p.getKind() == null ? "Gateway" : p.getKind();
      String group = p.getGroup() == null ? "gateway.networking.k8s.io" : p.getGroup();
      if (!kind.equals("Service") || !(group.isEmpty() || group.equals("core"))) {
        continue;
      }
      String ns = p.getNamespace() == null ? routeNs : p.getNamespace();
      if (svcName.equals(p.getName()) && svcNs.equals(ns)) {
        ports.add(p.getPort() == null ? 0 : p.getPort());
      }
    }
    return ports;
  }

  /** Compiles an HTTPRoute bound to a service on {@code port} (0 = all ports). */
  public static List<Route> compile(HTTPRoute hr, int port, Consumer<String> problems) {
    List<Route> out = new ArrayList<>();
    if (hr.getSpec() == null || hr.getSpec().getRules() == null) {
      return out;
    }
    String ns = hr.getMetadata().getNamespace();
    var rules = hr.getSpec().getRules();
    for (int i = 0; i < rules.size(); i++) {
      var rule = rules.get(i);
      String field = "spec.rules[" + i + "]";
      try {
        List<RequestMatch> matches = new ArrayList<>();
        if (rule.getMatches() == null || rule.getMatches().isEmpty()) {
          matches.add(new RequestMatch(StringMatcher.pathPrefix("/"), null, null, List.of(), List.of(), port));
        } else {
          for (int j = 0; j < rule.getMatches().size(); j++) {
            matches.add(httpMatch(rule.getMatches().get(j), port, field + ".matches[" + j + "]"));
          }
        }
        HeaderOps req = HeaderOps.NONE;
        HeaderOps resp = HeaderOps.NONE;
        String rewritePath = null;
        boolean fullPath = false;
        String rewriteHost = null;
        RouteAction action = null;
        if (rule.getFilters() != null) {
          for (HTTPRouteFilter f : rule.getFilters()) {
            switch (f.getType() == null ? "" : f.getType()) {
              case "RequestHeaderModifier" -> req = req.then(ops(f.getRequestHeaderModifier()));
              case "ResponseHeaderModifier" -> resp = resp.then(ops(f.getResponseHeaderModifier()));
              case "URLRewrite" -> {
                var u = f.getUrlRewrite();
                rewriteHost = VirtualServiceCompiler.blankToNull(u.getHostname());
                if (u.getPath() != null) {
                  if ("ReplaceFullPath".equals(u.getPath().getType())) {
                    rewritePath = u.getPath().getReplaceFullPath();
                    fullPath = true;
                  } else {
                    rewritePath = u.getPath().getReplacePrefixMatch();
                  }
                }
              }
              case "RequestRedirect" -> {
                var rr = f.getRequestRedirect();
                String path = null;
                boolean prefix = false;
                if (rr.getPath() != null) {
                  if ("ReplaceFullPath".equals(rr.getPath().getType())) {
                    path = rr.getPath().getReplaceFullPath();
                  } else {
                    path = rr.getPath().getReplacePrefixMatch();
                    prefix = true;
                  }
                }
                action = new RouteAction.Redirect(rr.getStatusCode() == null ? 302 : rr.getStatusCode(),
                    rr.getScheme(), rr.getHostname(), rr.getPort() == null ? 0 : rr.getPort(), path, prefix);
              }
              default -> throw new IllegalArgumentException(
                  "filter type " + f.getType() + " is not supported by the waypoint");
            }
          }
        }
        if (action == null) {
          List<WeightedDestination> ds = new ArrayList<>();
          if (rule.getBackendRefs() != null) {
            for (var b : rule.getBackendRefs()) {
              HeaderOps bReq = HeaderOps.NONE;
              HeaderOps bResp = HeaderOps.NONE;
              if (b.getFilters() != null) {
                for (HTTPRouteFilter f : b.getFilters()) {
                  if ("RequestHeaderModifier".equals(f.getType())) {
                    bReq = bReq.then(ops(f.getRequestHeaderModifier()));
                  } else if ("ResponseHeaderModifier".equals(f.getType())) {
                    bResp = bResp.then(ops(f.getResponseHeaderModifier()));
                  }
                }
              }
              ds.add(backend(b.getKind(), b.getName(), b.getNamespace(), ns, b.getPort(), b.getWeight(), bReq, bResp));
            }
          }
          action = ds.isEmpty()
              ? new RouteAction.DirectResponse(500, "no backendRefs")
              : new RouteAction.Forward(ds);
        }
        Duration timeout = Duration.ZERO;
        Duration perTry = Duration.ZERO;
        if (rule.getTimeouts() != null) {
          if (rule.getTimeouts().getRequest() != null) {
            timeout = GoDuration.parse(rule.getTimeouts().getRequest());
          }
          if (rule.getTimeouts().getBackendRequest() != null) {
            perTry = GoDuration.parse(rule.getTimeouts().getBackendRequest());
          }
        }
        RetryPolicy retry = RetryPolicy.ISTIO_DEFAULT;
        if (rule.getRetry() != null) {
          var rt = rule.getRetry();
          int attempts = rt.getAttempts() == null ? 2 : rt.getAttempts();
          Set<Integer> codes = rt.getCodes() == null ? Set.of() : Set.copyOf(rt.getCodes());
          retry = RetryPolicy.parse(attempts, perTry, codes.isEmpty() ? "connect-failure,refused-stream,reset" : "retriable-status-codes,connect-failure,refused-stream,reset", codes);
          if (rt.getBackoff() != null) {
            retry = new RetryPolicy(retry.attempts(), retry.perTryTimeout(), retry.retryOn(),
                retry.retriableStatusCodes(), GoDuration.parse(rt.getBackoff()));
          }
        } else if (!perTry.isZero()) {
          retry = new RetryPolicy(retry.attempts(), perTry, retry.retryOn(), retry.retriableStatusCodes(), retry.backoffBase());
        }
        String name = ref(hr) + "#" + (rule.getName() != null ? rule.getName() : field);
        out.add(new Route(name, matches, action, req, resp, rewritePath, fullPath, rewriteHost, timeout, retry, null));
      } catch (RuntimeException e) {
        problems.accept(ref(hr) + ": " + field + ": " + e.getMessage() + " (rule ignored)");
      }
    }
    return out;
  }

  /** Compiles a GRPCRoute bound to a service on {@code port} (0 = all ports). */
  public static List<Route> compile(GRPCRoute gr, int port, Consumer<String> problems) {
    List<Route> out = new ArrayList<>();
    if (gr.getSpec() == null || gr.getSpec().getRules() == null) {
      return out;
    }
    String ns = gr.getMetadata().getNamespace();
    var rules = gr.getSpec().getRules();
    for (int i = 0; i < rules.size(); i++) {
      var rule = rules.get(i);
      String field = "spec.rules[" + i + "]";
      try {
        List<RequestMatch> matches = new ArrayList<>();
        if (rule.getMatches() == null || rule.getMatches().isEmpty()) {
          matches.add(new RequestMatch(null, null, null, List.of(), List.of(), port));
        } else {
          for (var m : rule.getMatches()) {
            StringMatcher path = null;
            if (m.getMethod() != null) {
              var mm = m.getMethod();
              boolean regex = "RegularExpression".equals(mm.getType());
              String svc = mm.getService();
              String method = mm.getMethod();
              if (!regex && svc != null && method != null) {
                path = StringMatcher.exact("/" + svc + "/" + method);
              } else if (!regex && svc != null) {
                path = StringMatcher.prefix("/" + svc + "/");
              } else {
                String s = svc == null ? "[^/]+" : (regex ? svc : com.google.re2j.Pattern.quote(svc));
                String me = method == null ? "[^/]+" : (regex ? method : com.google.re2j.Pattern.quote(method));
                path = StringMatcher.regex("/" + s + "/" + me);
              }
            }
            List<HeaderMatch> headers = new ArrayList<>();
            if (m.getHeaders() != null) {
              for (var h : m.getHeaders()) {
                headers.add(new HeaderMatch(h.getName().toLowerCase(Locale.ROOT),
                    "RegularExpression".equals(h.getType()) ? StringMatcher.regex(h.getValue()) : StringMatcher.exact(h.getValue()),
                    false));
              }
            }
            matches.add(new RequestMatch(path, null, null, headers, List.of(), port));
          }
        }
        HeaderOps req = HeaderOps.NONE;
        HeaderOps resp = HeaderOps.NONE;
        if (rule.getFilters() != null) {
          for (var f : rule.getFilters()) {
            switch (f.getType() == null ? "" : f.getType()) {
              case "RequestHeaderModifier" -> req = req.then(ops(f.getRequestHeaderModifier()));
              case "ResponseHeaderModifier" -> resp = resp.then(ops(f.getResponseHeaderModifier()));
              default -> throw new IllegalArgumentException("filter type " + f.getType() + " is not supported by the waypoint");
            }
          }
        }
        List<WeightedDestination> ds = new ArrayList<>();
        if (rule.getBackendRefs() != null) {
          for (var b : rule.getBackendRefs()) {
            ds.add(backend(b.getKind(), b.getName(), b.getNamespace(), ns, b.getPort(), b.getWeight(), HeaderOps.NONE, HeaderOps.NONE));
          }
        }
        RouteAction action = ds.isEmpty() ? new RouteAction.DirectResponse(500, "no backendRefs") : new RouteAction.Forward(ds);
        String name = ref(gr) + "#" + (rule.getName() != null ? rule.getName() : field);
        out.add(new Route(name, matches, action, req, resp, null, false, null, Duration.ZERO, RetryPolicy.ISTIO_DEFAULT, null));
      } catch (RuntimeException e) {
        problems.accept(ref(gr) + ": " + field + ": " + e.getMessage() + " (rule ignored)");
      }
    }
    return out;
  }

  private static WeightedDestination backend(String kind, String name, String bns, String routeNs, Integer port,
      Integer weight, HeaderOps req, HeaderOps resp) {
    if (kind != null && !kind.equals("Service")) {
      throw new IllegalArgumentException("backendRef kind " + kind + " is not supported (expected Service)");
    }
    String ns = bns == null ? routeNs : bns;
    String host = MeshSnapshot.qualify(name + "." + ns, routeNs);
    return new WeightedDestination(host, null, port == null ? 0 : port, weight == null ? 1 : weight, req, resp);
  }

  private static RequestMatch httpMatch(io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRouteMatch m, int port, String field) {
    StringMatcher path;
    if (m.getPath() == null) {
      path = StringMatcher.pathPrefix("/");
    } else {
      String type = m.getPath().getType() == null ? "PathPrefix" : m.getPath().getType();
      String v = m.getPath().getValue() == null ? "/" : m.getPath().getValue();
      path = switch (type) {
        case "Exact" -> StringMatcher.exact(v);
        case "RegularExpression" -> StringMatcher.regex(v);
        default -> StringMatcher.pathPrefix(v);
      };
    }
    List<HeaderMatch> headers = new ArrayList<>();
    if (m.getHeaders() != null) {
      for (var h : m.getHeaders()) {
        headers.add(new HeaderMatch(h.getName().toLowerCase(Locale.ROOT),
            "RegularExpression".equals(h.getType()) ? StringMatcher.regex(h.getValue()) : StringMatcher.exact(h.getValue()),
            false));
      }
    }
    List<HeaderMatch> query = new ArrayList<>();
    if (m.getQueryParams() != null) {
      for (var q : m.getQueryParams()) {
        query.add(new HeaderMatch(q.getName(),
            "RegularExpression".equals(q.getType()) ? StringMatcher.regex(q.getValue()) : StringMatcher.exact(q.getValue()),
            false));
      }
    }
    StringMatcher method = m.getMethod() == null ? null : StringMatcher.exact(m.getMethod());
    return new RequestMatch(path, method, null, headers, query, port);
  }

  private static HeaderOps ops(HTTPHeaderFilter f) {
    if (f == null) {
      return HeaderOps.NONE;
    }
    Map<String, String> set = new LinkedHashMap<>();
    Map<String, String> add = new LinkedHashMap<>();
    if (f.getSet() != null) {
      for (HTTPHeader h : f.getSet()) {
        set.put(h.getName().toLowerCase(Locale.ROOT), h.getValue());
      }
    }
    if (f.getAdd() != null) {
      for (HTTPHeader h : f.getAdd()) {
        add.put(h.getName().toLowerCase(Locale.ROOT), h.getValue());
      }
    }
    List<String> remove = f.getRemove() == null ? List.of()
        : f.getRemove().stream().map(s -> s.toLowerCase(Locale.ROOT)).toList();
    return new HeaderOps(set, add, remove);
  }
}
