package dev.ambientj.config;

import com.fasterxml.jackson.databind.JsonMappingException;
import dev.ambientj.config.authz.CidrBlock;
import dev.ambientj.config.model.GoDuration;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPFaultInjection;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPFaultInjectionDelayFixedDelay;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPMatchRequest;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPRoute;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPRouteDestination;
import io.fabric8.istio.api.api.networking.v1alpha3.OutlierDetection;
import io.fabric8.istio.api.api.networking.v1alpha3.Percent;
import io.fabric8.istio.api.api.networking.v1alpha3.StringMatch;
import io.fabric8.istio.api.api.networking.v1alpha3.StringMatchRegex;
import io.fabric8.istio.api.api.networking.v1alpha3.RouteDestination;
import io.fabric8.istio.api.api.networking.v1alpha3.Subset;
import io.fabric8.istio.api.api.networking.v1alpha3.TCPRoute;
import io.fabric8.istio.api.api.security.v1beta1.AuthorizationPolicyAction;
import io.fabric8.istio.api.api.security.v1beta1.Condition;
import io.fabric8.istio.api.api.security.v1beta1.Operation;
import io.fabric8.istio.api.api.security.v1beta1.Rule;
import io.fabric8.istio.api.api.security.v1beta1.RuleFrom;
import io.fabric8.istio.api.api.security.v1beta1.RuleTo;
import io.fabric8.istio.api.api.security.v1beta1.Source;
import io.fabric8.istio.api.api.security.v1beta1.PeerAuthenticationMutualTLS;
import io.fabric8.istio.api.networking.v1.DestinationRule;
import io.fabric8.istio.api.networking.v1.VirtualService;
import io.fabric8.istio.api.security.v1.AuthorizationPolicy;
import io.fabric8.istio.api.security.v1.PeerAuthentication;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Per-kind checks, each throwing {@link InvalidField} with the field path and what was expected.
 * They check what the data plane relies on (addresses, ports, weights, durations, enums), not every
 * rule of the Kubernetes and Istio schemas.
 */
final class Validation {
  static final Set<String> WAYPOINT_FOR = Set.of("service", "workload", "all", "none");
  private static final String REGULAR_EXPRESSION = "RegularExpression";
  static final String SIDECAR_REASON =
      "there is no sidecar proxy to scope; ztunnel and waypoints do not read Sidecar resources";
  static final String ISTIO_GATEWAY_REASON =
      "an Istio ingress/egress Gateway configures gateway deployments, not the ambient data plane;"
          + " it is not a waypoint (a waypoint is a gateway.networking.k8s.io Gateway of class"
          + " istio-waypoint)";

  private Validation() {}

  static Pod pod(Pod p) throws InvalidField {
    podAddressesChecked(p);
    List<Container> containers =
        p.getSpec() == null || p.getSpec().getContainers() == null
            ? List.of()
            : p.getSpec().getContainers();
    for (int c = 0; c < containers.size(); c++) {
      List<ContainerPort> ports =
          containers.get(c).getPorts() == null ? List.of() : containers.get(c).getPorts();
      for (int i = 0; i < ports.size(); i++) {
        Integer port = ports.get(i).getContainerPort();
        if (port == null || port < 1 || port > 65535) {
          throw new InvalidField(
              "spec.containers[" + c + "].ports[" + i + "].containerPort",
              port + " (expected 1..65535)");
        }
      }
    }
    return p;
  }

  /** status.podIPs, else status.podIP; assumes {@link #pod} accepted the pod. */
  static List<InetAddress> podAddresses(Pod p) {
    try {
      return podAddressesChecked(p);
    } catch (InvalidField e) {
      return List.of();
    }
  }

  private static List<InetAddress> podAddressesChecked(Pod p) throws InvalidField {
    if (p.getStatus() == null) {
      return List.of();
    }
    Set<InetAddress> out = new LinkedHashSet<>();
    List<PodIP> ips = p.getStatus().getPodIPs() == null ? List.of() : p.getStatus().getPodIPs();
    for (int i = 0; i < ips.size(); i++) {
      out.add(ip("status.podIPs[" + i + "].ip", ips.get(i).getIp()));
    }
    String podIp = p.getStatus().getPodIP();
    if (podIp != null && !podIp.isEmpty()) {
      InetAddress a = ip("status.podIP", podIp);
      if (!out.isEmpty() && !out.contains(a)) {
        throw new InvalidField(
            "status.podIP", podIp + " is not in status.podIPs (expected podIPs[0] to equal podIP)");
      }
      out.add(a);
    }
    return List.copyOf(out);
  }

  static InetAddress ip(String field, String text) throws InvalidField {
    if (text == null || text.isEmpty()) {
      throw new InvalidField(field, "missing (expected an IPv4 or IPv6 address)");
    }
    try {
      return InetAddress.ofLiteral(text);
    } catch (IllegalArgumentException e) {
      throw new InvalidField(
          field, quote(text) + " is not an IP address (expected an IPv4 or IPv6 address)");
    }
  }

  static Service service(Service s) throws InvalidField {
    if (s.getSpec() == null) {
      throw new InvalidField("spec", "missing (expected ports and a selector)");
    }
    serviceVipsChecked(s);
    List<ServicePort> ports = s.getSpec().getPorts() == null ? List.of() : s.getSpec().getPorts();
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < ports.size(); i++) {
      ServicePort p = ports.get(i);
      String f = "spec.ports[" + i + "]";
      if (p.getPort() == null || p.getPort() < 1 || p.getPort() > 65535) {
        throw new InvalidField(f + ".port", p.getPort() + " (expected 1..65535)");
      }
      IntOrString t = p.getTargetPort();
      if (t != null && t.getIntVal() != null && (t.getIntVal() < 1 || t.getIntVal() > 65535)) {
        throw new InvalidField(
            f + ".targetPort", t.getIntVal() + " (expected 1..65535 or a container port name)");
      }
      if (t != null
          && t.getIntVal() == null
          && (t.getStrVal() == null || t.getStrVal().isEmpty())) {
        throw new InvalidField(
            f + ".targetPort", "empty (expected 1..65535 or a container port name)");
      }
      String protocol = p.getProtocol() == null ? "TCP" : p.getProtocol();
      if (!seen.add(protocol + "/" + p.getPort())) {
        throw new InvalidField(
            f + ".port",
            p.getPort() + "/" + protocol + " is listed twice (expected each port once)");
      }
      if (ports.size() > 1 && (p.getName() == null || p.getName().isEmpty())) {
        throw new InvalidField(
            f + ".name", "missing (expected a name when a Service has several ports)");
      }
    }
    return s;
  }

  /** The Service ports ztunnel and waypoints carry: TCP only (UDP and SCTP are not captured). */
  static List<ServicePort> tcpPorts(Service s) {
    List<ServicePort> out = new ArrayList<>();
    for (ServicePort p :
        s.getSpec().getPorts() == null ? List.<ServicePort>of() : s.getSpec().getPorts()) {
      if (p.getProtocol() == null || p.getProtocol().equals("TCP")) {
        out.add(p);
      }
    }
    return out;
  }

  static List<InetAddress> serviceVips(Service s) {
    try {
      return serviceVipsChecked(s);
    } catch (InvalidField e) {
      return List.of();
    }
  }

  private static List<InetAddress> serviceVipsChecked(Service s) throws InvalidField {
    Set<InetAddress> out = new LinkedHashSet<>();
    List<String> ips =
        s.getSpec().getClusterIPs() == null ? List.of() : s.getSpec().getClusterIPs();
    for (int i = 0; i < ips.size(); i++) {
      if (!"None".equals(ips.get(i))) {
        out.add(ip("spec.clusterIPs[" + i + "]", ips.get(i)));
      }
    }
    String ip = s.getSpec().getClusterIP();
    if (ip != null && !ip.isEmpty() && !ip.equals("None")) {
      out.add(ip("spec.clusterIP", ip));
    }
    return List.copyOf(out);
  }

  static VirtualService virtualService(VirtualService vs) throws InvalidField {
    var spec = vs.getSpec();
    if (spec == null || spec.getHosts() == null || spec.getHosts().isEmpty()) {
      throw new InvalidField("spec.hosts", "empty (expected at least one host)");
    }
    for (int i = 0; i < spec.getHosts().size(); i++) {
      String h = spec.getHosts().get(i);
      if (h == null || h.isBlank()) {
        throw new InvalidField(
            "spec.hosts[" + i + "]", "empty (expected a host such as payment-service)");
      }
    }
    List<HTTPRoute> http = spec.getHttp() == null ? List.of() : spec.getHttp();
    for (int i = 0; i < http.size(); i++) {
      HTTPRoute r = http.get(i);
      String f = "spec.http[" + i + "]";
      List<HTTPRouteDestination> route = r.getRoute() == null ? List.of() : r.getRoute();
      if (route.isEmpty()
          && r.getRedirect() == null
          && r.getDirectResponse() == null
          && r.getDelegate() == null) {
        throw new InvalidField(
            f + ".route", "empty (expected a destination, a redirect or a directResponse)");
      }
      for (int j = 0; j < route.size(); j++) {
        HTTPRouteDestination d = route.get(j);
        destination(
            f + ".route[" + j + "]",
            d.getDestination() == null ? null : d.getDestination().getHost(),
            d.getWeight());
      }
      if (r.getTimeout() != null) {
        duration(f + ".timeout", r.getTimeout());
      }
      if (r.getRetries() != null) {
        Integer attempts = r.getRetries().getAttempts();
        if (attempts != null && attempts < 0) {
          throw new InvalidField(f + ".retries.attempts", attempts + " (expected 0 or more)");
        }
        if (r.getRetries().getPerTryTimeout() != null) {
          duration(f + ".retries.perTryTimeout", r.getRetries().getPerTryTimeout());
        }
      }
      fault(f + ".fault", r.getFault());
      List<HTTPMatchRequest> match = r.getMatch() == null ? List.of() : r.getMatch();
      for (int j = 0; j < match.size(); j++) {
        httpMatch(f + ".match[" + j + "]", match.get(j));
      }
    }
    List<TCPRoute> tcp = spec.getTcp() == null ? List.of() : spec.getTcp();
    for (int i = 0; i < tcp.size(); i++) {
      List<RouteDestination> route =
          tcp.get(i).getRoute() == null ? List.of() : tcp.get(i).getRoute();
      for (int j = 0; j < route.size(); j++) {
        RouteDestination d = route.get(j);
        destination(
            "spec.tcp[" + i + "].route[" + j + "]",
            d.getDestination() == null ? null : d.getDestination().getHost(),
            d.getWeight());
      }
    }
    return vs;
  }

  private static void httpMatch(String f, HTTPMatchRequest m) throws InvalidField {
    if (m == null) {
      return;
    }
    stringMatch(f + ".uri", m.getUri());
    stringMatch(f + ".scheme", m.getScheme());
    stringMatch(f + ".method", m.getMethod());
    stringMatch(f + ".authority", m.getAuthority());
    stringMatches(f + ".headers", m.getHeaders());
    stringMatches(f + ".withoutHeaders", m.getWithoutHeaders());
    stringMatches(f + ".queryParams", m.getQueryParams());
  }

  private static void stringMatches(String f, Map<String, StringMatch> matches)
      throws InvalidField {
    if (matches != null) {
      for (Map.Entry<String, StringMatch> e : matches.entrySet()) {
        stringMatch(f + "[" + e.getKey() + "]", e.getValue());
      }
    }
  }

  private static void stringMatch(String f, StringMatch m) throws InvalidField {
    if (m != null && m.getMatchType() instanceof StringMatchRegex r) {
      regex(f + ".regex", r.getRegex());
    }
  }

  /**
   * Compiles {@code regex} with the engine the waypoint's route compiler uses (RE2/J: RE2 syntax,
   * matching in linear time, as Envoy's {@code safe_regex}), so that a route the translator accepts
   * always compiles there — and one RE2 cannot run (backreferences, lookaround) is rejected here.
   */
  static void regex(String f, String regex) throws InvalidField {
    if (regex == null) {
      throw new InvalidField(f, "missing (expected a regular expression)");
    }
    try {
      com.google.re2j.Pattern.compile(regex);
    } catch (com.google.re2j.PatternSyntaxException e) {
      throw new InvalidField(f, quote(regex) + " does not compile: " + e.getDescription()
          + (e.getIndex() >= 0 ? " at index " + e.getIndex() : ""));
    }
  }

  static io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute httpRoute(
      io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute route) throws InvalidField {
    var rules = route.getSpec() == null ? null : route.getSpec().getRules();
    for (int i = 0; i < size(rules); i++) {
      var matches = rules.get(i).getMatches();
      for (int j = 0; j < size(matches); j++) {
        var m = matches.get(j);
        String f = "spec.rules[" + i + "].matches[" + j + "]";
        if (m.getPath() != null && REGULAR_EXPRESSION.equals(m.getPath().getType())) {
          regex(f + ".path.value", m.getPath().getValue());
        }
        for (int k = 0; k < size(m.getHeaders()); k++) {
          var h = m.getHeaders().get(k);
          regexIf(f + ".headers[" + k + "].value", h.getType(), h.getValue());
        }
        for (int k = 0; k < size(m.getQueryParams()); k++) {
          var q = m.getQueryParams().get(k);
          regexIf(f + ".queryParams[" + k + "].value", q.getType(), q.getValue());
        }
      }
    }
    return route;
  }

  static io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute grpcRoute(
      io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute route) throws InvalidField {
    var rules = route.getSpec() == null ? null : route.getSpec().getRules();
    for (int i = 0; i < size(rules); i++) {
      var matches = rules.get(i).getMatches();
      for (int j = 0; j < size(matches); j++) {
        var m = matches.get(j);
        String f = "spec.rules[" + i + "].matches[" + j + "]";
        if (m.getMethod() != null && REGULAR_EXPRESSION.equals(m.getMethod().getType())) {
          if (m.getMethod().getService() != null) {
            regex(f + ".method.service", m.getMethod().getService());
          }
          if (m.getMethod().getMethod() != null) {
            regex(f + ".method.method", m.getMethod().getMethod());
          }
        }
        for (int k = 0; k < size(m.getHeaders()); k++) {
          var h = m.getHeaders().get(k);
          regexIf(f + ".headers[" + k + "].value", h.getType(), h.getValue());
        }
      }
    }
    return route;
  }

  private static void regexIf(String f, String matchType, String value) throws InvalidField {
    if (REGULAR_EXPRESSION.equals(matchType)) {
      regex(f, value);
    }
  }

  private static int size(List<?> list) {
    return list == null ? 0 : list.size();
  }

  private static void destination(String f, String host, Integer weight) throws InvalidField {
    if (host == null || host.isBlank()) {
      throw new InvalidField(
          f + ".destination.host", "missing (expected a host such as payment-service)");
    }
    if (weight != null && (weight < 0 || weight > 100)) {
      throw new InvalidField(f + ".weight", weight + " (expected 0..100)");
    }
  }

  private static void fault(String f, HTTPFaultInjection fault) throws InvalidField {
    if (fault == null) {
      return;
    }
    if (fault.getDelay() != null) {
      percent(f + ".delay.percentage.value", fault.getDelay().getPercentage());
      if (fault.getDelay().getHttpDelayType() instanceof HTTPFaultInjectionDelayFixedDelay fixed) {
        duration(f + ".delay.fixedDelay", fixed.getFixedDelay());
      }
    }
    if (fault.getAbort() != null) {
      percent(f + ".abort.percentage.value", fault.getAbort().getPercentage());
      if (fault.getAbort().getErrorType()
              instanceof
              io.fabric8.istio.api.api.networking.v1alpha3.HTTPFaultInjectionAbortHttpStatus s
          && (s.getHttpStatus() == null || s.getHttpStatus() < 200 || s.getHttpStatus() > 599)) {
        throw new InvalidField(f + ".abort.httpStatus", s.getHttpStatus() + " (expected 200..599)");
      }
    }
  }

  private static void percent(String f, Percent p) throws InvalidField {
    if (p != null && p.getValue() != null && (p.getValue() < 0 || p.getValue() > 100)) {
      throw new InvalidField(f, p.getValue() + " (expected 0..100)");
    }
  }

  static void duration(String f, String text) throws InvalidField {
    try {
      GoDuration.parse(text);
    } catch (IllegalArgumentException e) {
      throw new InvalidField(f, e.getMessage());
    }
  }

  static DestinationRule destinationRule(DestinationRule dr) throws InvalidField {
    var spec = dr.getSpec();
    if (spec == null || spec.getHost() == null || spec.getHost().isBlank()) {
      throw new InvalidField("spec.host", "missing (expected a host such as payment-service)");
    }
    List<Subset> subsets = spec.getSubsets() == null ? List.of() : spec.getSubsets();
    Set<String> names = new HashSet<>();
    for (int i = 0; i < subsets.size(); i++) {
      String n = subsets.get(i).getName();
      if (n == null || n.isBlank()) {
        throw new InvalidField(
            "spec.subsets[" + i + "].name", "missing (expected a subset name such as v1)");
      }
      if (!names.add(n)) {
        throw new InvalidField(
            "spec.subsets[" + i + "].name",
            quote(n) + " is defined twice (expected unique subset names)");
      }
    }
    if (spec.getTrafficPolicy() != null) {
      outlier("spec.trafficPolicy.outlierDetection", spec.getTrafficPolicy().getOutlierDetection());
    }
    return dr;
  }

  private static void outlier(String f, OutlierDetection o) throws InvalidField {
    if (o == null) {
      return;
    }
    if (o.getInterval() != null) {
      duration(f + ".interval", o.getInterval());
    }
    if (o.getBaseEjectionTime() != null) {
      duration(f + ".baseEjectionTime", o.getBaseEjectionTime());
    }
    if (o.getMaxEjectionPercent() != null
        && (o.getMaxEjectionPercent() < 0 || o.getMaxEjectionPercent() > 100)) {
      throw new InvalidField(
          f + ".maxEjectionPercent", o.getMaxEjectionPercent() + " (expected 0..100)");
    }
  }

  static AuthorizationPolicy authorizationPolicy(AuthorizationPolicy ap) throws InvalidField {
    var spec = ap.getSpec();
    if (spec == null) {
      return ap; // an empty ALLOW policy: denies everything in its scope, as Istio
    }
    boolean hasTargets =
        spec.getTargetRef() != null
            || (spec.getTargetRefs() != null && !spec.getTargetRefs().isEmpty());
    if (spec.getSelector() != null && hasTargets) {
      throw new InvalidField(
          "spec.selector",
          "set together with targetRefs (expected only one of selector or targetRefs)");
    }
    if (spec.getAction() == AuthorizationPolicyAction.CUSTOM && spec.getActionDetail() == null) {
      throw new InvalidField(
          "spec.provider", "missing (expected a provider name with action CUSTOM)");
    }
    List<Rule> rules = spec.getRules() == null ? List.of() : spec.getRules();
    for (int i = 0; i < rules.size(); i++) {
      authorizationRule("spec.rules[" + i + "]", rules.get(i));
    }
    return ap;
  }

  /**
   * The values of a rule that must parse for the engine to enforce it as written: IP blocks
   * ({@link CidrBlock#parse}, the engine's own parser: IP literals only, never a DNS lookup) and
   * port numbers. Rejecting them here keeps the last good version in force instead of a rule
   * that fails closed.
   */
  private static void authorizationRule(String f, Rule rule) throws InvalidField {
    List<RuleFrom> from = rule.getFrom() == null ? List.of() : rule.getFrom();
    for (int i = 0; i < from.size(); i++) {
      Source s = from.get(i).getSource();
      if (s != null) {
        String sf = f + ".from[" + i + "].source.";
        cidrs(sf + "ipBlocks", s.getIpBlocks());
        cidrs(sf + "notIpBlocks", s.getNotIpBlocks());
        cidrs(sf + "remoteIpBlocks", s.getRemoteIpBlocks());
        cidrs(sf + "notRemoteIpBlocks", s.getNotRemoteIpBlocks());
      }
    }
    List<RuleTo> to = rule.getTo() == null ? List.of() : rule.getTo();
    for (int i = 0; i < to.size(); i++) {
      Operation o = to.get(i).getOperation();
      if (o != null) {
        ports(f + ".to[" + i + "].operation.ports", o.getPorts());
        ports(f + ".to[" + i + "].operation.notPorts", o.getNotPorts());
      }
    }
    List<Condition> when = rule.getWhen() == null ? List.of() : rule.getWhen();
    for (int i = 0; i < when.size(); i++) {
      Condition c = when.get(i);
      String key = c.getKey() == null ? "" : c.getKey();
      String cf = f + ".when[" + i + "]";
      switch (key) {
        case "source.ip", "remote.ip", "destination.ip" -> {
          cidrs(cf + ".values", c.getValues());
          cidrs(cf + ".notValues", c.getNotValues());
        }
        case "destination.port" -> {
          ports(cf + ".values", c.getValues());
          ports(cf + ".notValues", c.getNotValues());
        }
        default -> {
          // other keys are checked by the engine (unknown ones make the rule fail closed)
        }
      }
    }
  }

  private static void cidrs(String f, List<String> values) throws InvalidField {
    if (values == null) {
      return;
    }
    for (int i = 0; i < values.size(); i++) {
      try {
        CidrBlock.parse(values.get(i));
      } catch (IllegalArgumentException e) {
        throw new InvalidField(f + "[" + i + "]", e.getMessage());
      }
    }
  }

  private static void ports(String f, List<String> values) throws InvalidField {
    if (values == null) {
      return;
    }
    for (int i = 0; i < values.size(); i++) {
      String v = values.get(i) == null ? "" : values.get(i).trim();
      int port = v.isEmpty() || v.length() > 5 || !v.chars().allMatch(Character::isDigit) ? -1
          : Integer.parseInt(v);
      if (port < 0 || port > 65535) {
        throw new InvalidField(f + "[" + i + "]", quote(values.get(i)) + " (expected a port number 0..65535)");
      }
    }
  }

  /**
   * A Telemetry whose {@code tracing[].randomSamplingPercentage} is outside 0..100 is refused
   * (Istio's validation), so a typo never changes the sampling in force.
   */
  static io.fabric8.istio.api.telemetry.v1.Telemetry telemetry(io.fabric8.istio.api.telemetry.v1.Telemetry t)
      throws InvalidField {
    var spec = t.getSpec();
    if (spec == null || spec.getTracing() == null) {
      return t;
    }
    for (int i = 0; i < spec.getTracing().size(); i++) {
      var tracing = spec.getTracing().get(i);
      Double p = tracing == null ? null : tracing.getRandomSamplingPercentage();
      if (p != null && !(p >= 0 && p <= 100)) {
        throw new InvalidField("spec.tracing[" + i + "].randomSamplingPercentage",
            p + " (expected a percentage from 0 to 100)");
      }
    }
    return t;
  }

  static PeerAuthentication peerAuthentication(PeerAuthentication pa) throws InvalidField {
    var spec = pa.getSpec();
    if (spec == null) {
      return pa;
    }
    Map<String, PeerAuthenticationMutualTLS> portLevel = spec.getPortLevelMtls();
    if (portLevel != null && !portLevel.isEmpty()) {
      if (spec.getSelector() == null) {
        throw new InvalidField(
            "spec.portLevelMtls",
            "set without a selector (expected a selector with port-level settings)");
      }
      for (String port : portLevel.keySet()) {
        int n;
        try {
          n = Integer.parseInt(port);
        } catch (NumberFormatException e) {
          n = -1;
        }
        if (n < 1 || n > 65535) {
          throw new InvalidField(
              "spec.portLevelMtls[" + port + "]", quote(port) + " (expected a port 1..65535)");
        }
      }
    }
    return pa;
  }

  /** {@code spec.http[0].route[1].weight} from Jackson's reference chain. */
  static String pathOf(JsonMappingException e) {
    StringBuilder sb = new StringBuilder();
    for (JsonMappingException.Reference r : e.getPath()) {
      if (r.getIndex() >= 0) {
        sb.append('[').append(r.getIndex()).append(']');
      } else if (r.getFieldName() != null) {
        if (!sb.isEmpty()) {
          sb.append('.');
        }
        sb.append(r.getFieldName());
      }
    }
    return sb.toString();
  }

  static String quote(Object value) {
    return value instanceof String s ? "\"" + s + "\"" : String.valueOf(value);
  }

  static String typeName(Class<?> type) {
    if (type == Integer.class || type == int.class || type == Long.class || type == long.class) {
      return "an integer";
    }
    if (type == Boolean.class || type == boolean.class) {
      return "true or false";
    }
    if (type == Double.class || type == double.class) {
      return "a number";
    }
    return "a " + type.getSimpleName();
  }
}
