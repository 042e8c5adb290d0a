package dev.ambientj.waypoint.route;

import dev.ambientj.config.model.GoDuration;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.waypoint.filter.fault.FaultPolicy;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPFaultInjection;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPMatchRequest;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPRedirect;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPRedirectPort;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPRetry;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPRouteDestination;
import io.fabric8.istio.api.api.networking.v1alpha3.Headers;
import io.fabric8.istio.api.api.networking.v1alpha3.HeadersHeaderOperations;
import io.fabric8.istio.api.api.networking.v1alpha3.Percent;
import io.fabric8.istio.api.api.networking.v1alpha3.StringMatch;
import io.fabric8.istio.api.api.networking.v1alpha3.StringMatchExact;
import io.fabric8.istio.api.api.networking.v1alpha3.StringMatchPrefix;
import io.fabric8.istio.api.api.networking.v1alpha3.StringMatchRegex;
import io.fabric8.istio.api.networking.v1.VirtualService;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Compiles a VirtualService's {@code http} routes. Regular expressions are compiled here, once per
 * snapshot. A route that cannot be compiled is dropped with an operator-facing message naming the
 * object and field; the others stay.
 */
public final class VirtualServiceCompiler {
  private VirtualServiceCompiler() {}

  /** The object reference used in logs: {@code VirtualService ns/name}. */
  public static String ref(VirtualService vs) {
    return "VirtualService " + vs.getMetadata().getNamespace() + "/" + vs.getMetadata().getName();
  }

  /** True when the VirtualService applies to mesh traffic (no {@code gateways}, or {@code mesh} listed). */
  public static boolean appliesToMesh(VirtualService vs) {
    List<String> gws = vs.getSpec() == null ? null : vs.getSpec().getGateways();
    return gws == null || gws.isEmpty() || gws.contains("mesh");
  }

  /** Whether one of the VirtualService's hosts names the service {@code fqdn}. */
  public static boolean hostsInclude(VirtualService vs, String fqdn) {
    if (vs.getSpec() == null || vs.getSpec().getHosts() == null) {
      return false;
    }
    String ns = vs.getMetadata().getNamespace();
    for (String h : vs.getSpec().getHosts()) {
      if (h == null) {
        continue;
      }
      if (h.startsWith("*")) {
        String suffix = h.substring(1).toLowerCase(Locale.ROOT);
        if (suffix.isEmpty() || fqdn.endsWith(suffix)) {
          return true;
        }
        continue;
      }
      String q = MeshSnapshot.qualify(h, ns);
      if (fqdn.equalsIgnoreCase(q)) {
        return true;
      }
    }
    return false;
  }

  /** Compiles the {@code http} routes; problems go to {@code problems}. */
  public static List<Route> compile(VirtualService vs, Consumer<String> problems) {
    List<Route> out = new ArrayList<>();
    if (vs.getSpec() == null || vs.getSpec().getHttp() == null) {
      return out;
    }
    String ns = vs.getMetadata().getNamespace();
    List<io.fabric8.istio.api.api.networking.v1alpha3.HTTPRoute> http = vs.getSpec().getHttp();
    for (int i = 0; i < http.size(); i++) {
      var r = http.get(i);
      String field = "spec.http[" + i + "]";
      try {
        out.add(compileRoute(vs, ns, r, field));
      } catch (RuntimeException e) {
        problems.accept(ref(vs) + ": " + field + ": " + e.getMessage() + " (route ignored)");
      }
    }
    return out;
  }

  private static Route compileRoute(VirtualService vs, String ns,
      io.fabric8.istio.api.api.networking.v1alpha3.HTTPRoute r, String field) {
    String name = ref(vs) + "#" + (r.getName() != null ? r.getName() : field);
    if (r.getDelegate() != null) {
      throw new IllegalArgumentException("delegate is not supported by the waypoint");
    }
    List<RequestMatch> matches = new ArrayList<>();
    if (r.getMatch() != null) {
      for (int j = 0; j < r.getMatch().size(); j++) {
        matches.add(compileMatch(r.getMatch().get(j), field + ".match[" + j + "]"));
      }
    }
    RouteAction action;
    if (r.getRedirect() != null) {
      action = redirect(r.getRedirect());
    } else if (r.getDirectResponse() != null) {
      var d = r.getDirectResponse();
      String body = null;
      if (d.getBody() != null) {
        var spec = d.getBody().getSpecifier();
        if (spec instanceof io.fabric8.istio.api.api.networking.v1alpha3.HTTPBodyString bs) {
          body = bs.getString();
        } else if (spec instanceof io.fabric8.istio.api.api.networking.v1alpha3.HTTPBodyBytes bb && bb.getBytes() != null) {
          body = new String(java.util.Base64.getDecoder().decode(bb.getBytes()), java.nio.charset.StandardCharsets.UTF_8);
        }
      }
      action = new RouteAction.DirectResponse(d.getStatus() == null ? 200 : d.getStatus().intValue(), body);
    } else {
      if (r.getRoute() == null || r.getRoute().isEmpty()) {
        throw new IllegalArgumentException("no route, redirect or directResponse");
      }
      List<WeightedDestination> ds = new ArrayList<>();
      for (HTTPRouteDestination d : r.getRoute()) {
        if (d.getDestination() == null || d.getDestination().getHost() == null) {
          throw new IllegalArgumentException("route destination without host");
        }
        String host = MeshSnapshot.qualify(d.getDestination().getHost(), ns);
        int port = d.getDestination().getPort() != null && d.getDestination().getPort().getNumber() != null
            ? d.getDestination().getPort().getNumber().intValue() : 0;
        int weight = d.getWeight() == null ? (r.getRoute().size() == 1 ? 100 : 0) : d.getWeight();
        ds.add(new WeightedDestination(host, blankToNull(d.getDestination().getSubset()), port, weight,
            ops(d.getHeaders(), true), ops(d.getHeaders(), false)));
      }
      action = new RouteAction.Forward(ds);
    }
    String rewritePath = null;
    String rewriteAuthority = null;
    if (r.getRewrite() != null) {
      rewritePath = blankToNull(r.getRewrite().getUri());
      rewriteAuthority = blankToNull(r.getRewrite().getAuthority());
    }
    Duration timeout = r.getTimeout() == null ? Duration.ZERO : GoDuration.parse(r.getTimeout());
    return new Route(name, matches, action, ops(r.getHeaders(), true), ops(r.getHeaders(), false),
        rewritePath, false, rewriteAuthority, timeout, retry(r.getRetries()), fault(r.getFault()));
  }

  static RequestMatch compileMatch(HTTPMatchRequest m, String field) {
    boolean ignoreCase = Boolean.TRUE.equals(m.getIgnoreUriCase());
    StringMatcher uri = matcher(m.getUri(), field + ".uri", false);
    if (uri != null && ignoreCase) {
      uri = uri.ignoringCase();
    }
    List<HeaderMatch> headers = new ArrayList<>();
    if (m.getHeaders() != null) {
      for (Map.Entry<String, StringMatch> e : m.getHeaders().entrySet()) {
        headers.add(new HeaderMatch(e.getKey().toLowerCase(Locale.ROOT),
            matcher(e.getValue(), field + ".headers." + e.getKey(), true), false));
      }
    }
    if (m.getWithoutHeaders() != null) {
      for (Map.Entry<String, StringMatch> e : m.getWithoutHeaders().entrySet()) {
        headers.add(new HeaderMatch(e.getKey().toLowerCase(Locale.ROOT),
            matcher(e.getValue(), field + ".withoutHeaders." + e.getKey(), true), true));
      }
    }
    List<HeaderMatch> query = new ArrayList<>();
    if (m.getQueryParams() != null) {
      for (Map.Entry<String, StringMatch> e : m.getQueryParams().entrySet()) {
        query.add(new HeaderMatch(e.getKey(), matcher(e.getValue(), field + ".queryParams." + e.getKey(), true), false));
      }
    }
    int port = m.getPort() == null ? 0 : m.getPort().intValue();
    return new RequestMatch(uri, matcher(m.getMethod(), field + ".method", false),
        matcher(m.getAuthority(), field + ".authority", false), headers, query, port);
  }

  /** A StringMatch; an empty one means "present" where {@code emptyIsPresence}, else no condition. */
  static StringMatcher matcher(StringMatch sm, String field, boolean emptyIsPresence) {
    if (sm == null) {
      return null;
    }
    var t = sm.getMatchType();
    if (t instanceof StringMatchExact e) {
      return StringMatcher.exact(e.getExact());
    }
    if (t instanceof StringMatchPrefix p) {
      return StringMatcher.prefix(p.getPrefix());
    }
    if (t instanceof StringMatchRegex r) {
      try {
        return StringMatcher.regex(r.getRegex());
      } catch (com.google.re2j.PatternSyntaxException e) {
        throw new IllegalArgumentException(field + ".regex: " + r.getRegex() + " does not compile: " + e.getDescription());
      }
    }
    return emptyIsPresence ? StringMatcher.present() : null;
  }

  private static RouteAction redirect(HTTPRedirect r) {
    int status = r.getRedirectCode() == null || r.getRedirectCode() == 0 ? 301 : r.getRedirectCode().intValue();
    int port = 0;
    if (r.getRedirectPort() instanceof HTTPRedirectPort p && p.getPort() != null) {
      port = p.getPort().intValue();
    }
    return new RouteAction.Redirect(status, blankToNull(r.getScheme()), blankToNull(r.getAuthority()), port,
        blankToNull(r.getUri()), false);
  }

  static RetryPolicy retry(HTTPRetry r) {
    if (r == null) {
      return RetryPolicy.ISTIO_DEFAULT;
    }
    int attempts = r.getAttempts() == null ? 0 : r.getAttempts();
    if (attempts <= 0) {
      return RetryPolicy.NONE;
    }
    Duration perTry = r.getPerTryTimeout() == null ? Duration.ZERO : GoDuration.parse(r.getPerTryTimeout());
    String on = r.getRetryOn() == null || r.getRetryOn().isBlank()
        ? "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
        : r.getRetryOn();
    Set<Integer> codes = r.getRetryOn() == null || r.getRetryOn().isBlank() ? Set.of(503) : Set.of();
    RetryPolicy p = RetryPolicy.parse(attempts, perTry, on, codes);
    if (r.getBackoff() != null && !r.getBackoff().isBlank()) {
      p = new RetryPolicy(p.attempts(), p.perTryTimeout(), p.retryOn(), p.retriableStatusCodes(),
          GoDuration.parse(r.getBackoff()));
    }
    return p;
  }

  static FaultPolicy fault(HTTPFaultInjection f) {
    if (f == null) {
      return FaultPolicy.NONE;
    }
    Duration delay = Duration.ZERO;
    double delayPct = 0;
    if (f.getDelay() != null) {
      var d = f.getDelay();
      if (d.getHttpDelayType() instanceof io.fabric8.istio.api.api.networking.v1alpha3.HTTPFaultInjectionDelayFixedDelay fd
          && fd.getFixedDelay() != null) {
        delay = GoDuration.parse(fd.getFixedDelay());
      } else {
        throw new IllegalArgumentException("fault.delay: only fixedDelay is supported");
      }
      delayPct = percent(d.getPercentage(), d.getPercent());
    }
    int status = 0;
    String grpc = null;
    double abortPct = 0;
    if (f.getAbort() != null) {
      var a = f.getAbort();
      if (a.getErrorType() instanceof io.fabric8.istio.api.api.networking.v1alpha3.HTTPFaultInjectionAbortHttpStatus hs
          && hs.getHttpStatus() != null) {
        status = hs.getHttpStatus();
      } else if (a.getErrorType() instanceof io.fabric8.istio.api.api.networking.v1alpha3.HTTPFaultInjectionAbortGrpcStatus gs
          && gs.getGrpcStatus() != null) {
        grpc = GrpcStatus.toCode(gs.getGrpcStatus());
      } else {
        throw new IllegalArgumentException("fault.abort: httpStatus or grpcStatus required (http2Error is not supported)");
      }
      abortPct = percent(a.getPercentage(), null);
    }
    return new FaultPolicy(delay, delayPct, status, grpc, abortPct);
  }

  /** Istio: an absent percentage means 100 %. */
  private static double percent(Percent p, Integer legacy) {
    if (p != null && p.getValue() != null) {
      return p.getValue();
    }
    if (legacy != null) {
      return legacy;
    }
    return 100;
  }

  private static HeaderOps ops(Headers h, boolean request) {
    if (h == null) {
      return HeaderOps.NONE;
    }
    HeadersHeaderOperations o = request ? h.getRequest() : h.getResponse();
    if (o == null) {
      return HeaderOps.NONE;
    }
    return new HeaderOps(
        o.getSet() == null ? Map.of() : lower(o.getSet()),
        o.getAdd() == null ? Map.of() : lower(o.getAdd()),
        o.getRemove() == null ? List.of() : o.getRemove().stream().map(s -> s.toLowerCase(Locale.ROOT)).toList());
  }

  private static Map<String, String> lower(Map<String, String> m) {
    Map<String, String> out = new java.util.LinkedHashMap<>();
    m.forEach((k, v) -> out.put(k.toLowerCase(Locale.ROOT), v));
    return out;
  }

  static String blankToNull(String s) {
    return s == null || s.isBlank() ? null : s;
  }
}
