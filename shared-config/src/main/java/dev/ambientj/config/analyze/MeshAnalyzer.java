package dev.ambientj.config.analyze;

import static dev.ambientj.config.MeshTranslator.LABEL_GATEWAY_NAME;
import static dev.ambientj.config.MeshTranslator.LABEL_USE_WAYPOINT;
import static dev.ambientj.config.MeshTranslator.LABEL_USE_WAYPOINT_NAMESPACE;
import static dev.ambientj.config.analyze.Refs.nsOf;
import static dev.ambientj.config.analyze.Refs.ref;

import dev.ambientj.config.MeshTranslator;
import dev.ambientj.config.MeshYaml;
import dev.ambientj.config.analyze.Finding.Level;
import dev.ambientj.config.authz.AuthorizationEngine;
import dev.ambientj.config.model.ConfigRejection;
import dev.ambientj.config.model.ConfigWarning;
import dev.ambientj.config.model.LocalRateLimit;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.NotApplicable;
import dev.ambientj.config.model.Service;
import dev.ambientj.config.model.Waypoint;
import dev.ambientj.config.model.WaypointRef;
import dev.ambientj.config.model.Workload;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPRoute;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPRouteDestination;
import io.fabric8.istio.api.api.networking.v1alpha3.RouteDestination;
import io.fabric8.istio.api.api.networking.v1alpha3.Subset;
import io.fabric8.istio.api.api.networking.v1alpha3.TCPRoute;
import io.fabric8.istio.api.api.security.v1beta1.AuthorizationPolicyAction;
import io.fabric8.istio.api.api.security.v1beta1.Rule;
import io.fabric8.istio.api.api.security.v1beta1.RuleFrom;
import io.fabric8.istio.api.api.type.v1beta1.PolicyTargetReference;
import io.fabric8.istio.api.networking.v1.DestinationRule;
import io.fabric8.istio.api.networking.v1.VirtualService;
import io.fabric8.istio.api.security.v1.AuthorizationPolicy;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCBackendRef;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRouteRule;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPBackendRef;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRouteRule;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.ParentReference;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The checks of {@code mesh analyze}: what istiod would reject, and configuration that is accepted
 * but does not do what its author likely meant in ambient mode.
 *
 * <p>Each reference is checked on its own: a route's subset is looked up in the DestinationRules
 * whether or not its Service is among the objects, a Service's absence is reported once.
 *
 * <p>Codes as istioctl's where one exists: IST0101 referenced host, subset, Service or waypoint not
 * found; IST0106 schema validation (an object the proxies reject, or an unknown field they
 * ignore); IST0109 two VirtualServices for one host; IST0127 a selector that matches no workload;
 * IST0118 a port that declares no protocol; IST0130 a rule after a catch-all rule; IST0131 a match
 * that repeats an earlier one; IST0173 a
 * subset that selects no pod. ambientj's own: AMB0001 an object defined twice (the later
 * applies), AMB0002 malformed YAML or a file with nothing in
 * it, AMB0100 where a policy applies ({@code --verbose}), AMB0103 route weights not summing to 100,
 * AMB0104 use-waypoint names no waypoint, AMB0105 not applicable to ambient, AMB0106 the waypoint
 * does not serve that kind of traffic, AMB0107 a workload policy that a waypoint bypasses, AMB0108
 * L7 configuration for a service without waypoint, AMB0109 a rate limit that selects no workload,
 * AMB0110 L7 attributes in a policy enforced by ztunnel, AMB0111 a waypoint that does not admit
 * the namespace bound to it, AMB0112 STRICT mTLS where a client outside the mesh is let in,
 * AMB0113 a port of a waypoint's Service that declares no protocol (L7 does not apply to it).
 */
public final class MeshAnalyzer {
  static final String ROOT_NAMESPACE = "istio-system";
  /** istioctl's SchemaValidationError. */
  static final String SCHEMA_VALIDATION = "IST0106";

  private final List<HasMetadata> objects;
  private final MeshSnapshot snapshot;
  private final List<Finding> findings = new ArrayList<>();
  private final Set<String> rejected = new HashSet<>();

  private MeshAnalyzer(List<HasMetadata> objects, MeshSnapshot snapshot) {
    this.objects = objects;
    this.snapshot = snapshot;
  }

  /**
   * All findings for these objects (as read) and the snapshot translated from them, in a stable
   * order.
   */
  public static List<Finding> analyze(
      List<MeshYaml.YamlError> yamlErrors, List<HasMetadata> objects, MeshSnapshot snapshot) {
    MeshAnalyzer a = new MeshAnalyzer(objects, snapshot);
    for (MeshYaml.YamlError e : yamlErrors) {
      a.findings.add(fileFinding(e.toRejection(false)));
    }
    // The proxies and the config server print the same text for the same object: the
    // rejection's, after the level and code.
    for (ConfigRejection r : snapshot.rejections()) {
      if (!r.location().isEmpty()) {
        a.findings.add(fileFinding(r));
        continue;
      }
      if (r.problem().equals(MeshTranslator.DEFINED_AGAIN)) {
        a.findings.add(new Finding(Level.WARNING, "AMB0001", r.objectRef(), r.field(),
            r.problem()));
        continue;
      }
      a.rejected.add(r.objectRef());
      a.findings.add(
          new Finding(Level.ERROR, SCHEMA_VALIDATION, r.objectRef(), r.field(), r.problem()));
    }
    // An ignored unknown field is an error for analyze: strict field validation (kubectl apply
    // --validate=strict, istioctl's IST0106) refuses the object.
    for (ConfigWarning w : snapshot.warnings()) {
      a.findings.add(new Finding(Level.ERROR, SCHEMA_VALIDATION,
          w.namespace().isEmpty() ? w.kind() + " " + w.name()
              : w.kind() + " " + w.namespace() + "/" + w.name(), w.field(), w.problem()));
    }
    a.virtualServices();
    a.gatewayRoutes();
    a.waypointLabels();
    PortNames.check(objects, snapshot, a.findings::add);
    a.authorizationPolicies();
    PlaintextClients.check(snapshot, a.findings::add);
    a.rateLimits();
    for (NotApplicable n : snapshot.policies().notApplicable()) {
      a.findings.add(
          new Finding(
              Level.INFO,
              "AMB0105",
              n.objectRef(),
              "",
              "not applicable to ambient mode: " + n.reason()));
    }
    return List.copyOf(a.findings);
  }

  /** AMB0002: a file or document that could not be used, at its position. */
  private static Finding fileFinding(ConfigRejection r) {
    String ref = r.objectRef();
    return new Finding(Level.ERROR, "AMB0002", r.location(), "",
        (ref.isEmpty() ? "" : ref + ": ") + r.problem());
  }

  /**
   * One Info line (AMB0100) per accepted waypoint and policy object saying where it takes effect;
   * what {@code mesh analyze --verbose} adds to the findings. Objects that take no effect have
   * findings instead.
   */
  public static List<Finding> applied(MeshSnapshot snapshot) {
    List<Finding> out = new ArrayList<>();
    for (Waypoint w : snapshot.waypoints()) {
      out.add(
          info(
              "Gateway " + w.namespace() + "/" + w.name(),
              "waypoint for "
                  + w.waypointFor()
                  + " traffic, identity "
                  + w.spiffeId()
                  + ", addresses "
                  + addresses(w.addresses())));
    }
    for (VirtualService vs : snapshot.policies().virtualServices()) {
      for (String host : vs.getSpec().getHosts()) {
        waypointOf(snapshot, host, nsOf(vs))
            .ifPresent(wp -> out.add(info(ref(vs), "routes " + host + " at waypoint " + wp)));
      }
    }
    for (DestinationRule dr : snapshot.policies().destinationRules()) {
      waypointOf(snapshot, dr.getSpec().getHost(), nsOf(dr))
          .ifPresent(
              wp ->
                  out.add(
                      info(
                          ref(dr),
                          "traffic policy and subsets for "
                              + dr.getSpec().getHost()
                              + " applied at waypoint "
                              + wp)));
    }
    for (AuthorizationPolicy ap : snapshot.policies().authorizationPolicies()) {
      var spec = ap.getSpec();
      String action = spec == null || spec.getAction() == null ? "ALLOW" : spec.getAction().name();
      String ns = nsOf(ap);
      if (spec != null
          && (spec.getTargetRef() != null
              || (spec.getTargetRefs() != null && !spec.getTargetRefs().isEmpty()))) {
        out.add(info(ref(ap), action + " enforced by the waypoint of its targetRefs"));
      } else if (spec != null
          && spec.getSelector() != null
          && spec.getSelector().getMatchLabels() != null) {
        long n =
            snapshot.workloads().stream()
                .filter(
                    w ->
                        (ns.equals(ROOT_NAMESPACE) || w.namespace().equals(ns))
                            && w.labels()
                                .entrySet()
                                .containsAll(spec.getSelector().getMatchLabels().entrySet()))
                .count();
        if (n > 0) {
          out.add(
              info(ref(ap), action + " enforced by ztunnel for " + n + " selected workload(s)"));
        }
      } else {
        out.add(
            info(
                ref(ap),
                action
                    + " enforced by ztunnel for every workload of "
                    + (ns.equals(ROOT_NAMESPACE) ? "the mesh" : "namespace " + ns)));
      }
    }
    for (var pa : snapshot.policies().peerAuthentications()) {
      var mtls = pa.getSpec() == null ? null : pa.getSpec().getMtls();
      String mode = mtls == null || mtls.getMode() == null ? "UNSET" : mtls.getMode().name();
      String scope =
          pa.getSpec() != null && pa.getSpec().getSelector() != null
              ? "selected workloads of namespace " + nsOf(pa)
              : nsOf(pa).equals(ROOT_NAMESPACE) ? "the mesh" : "namespace " + nsOf(pa);
      out.add(
          info(
              ref(pa),
              "mTLS "
                  + mode
                  + " for "
                  + scope
                  + (mode.equals("STRICT")
                      ? ": ztunnel refuses plaintext to enrolled workloads"
                      : "")));
    }
    for (LocalRateLimit rl : snapshot.policies().localRateLimits()) {
      Set<WaypointRef> wps = new java.util.LinkedHashSet<>();
      for (Workload w : snapshot.workloads()) {
        if (rl.selects(w.namespace(), w.labels())) {
          snapshot.findServicesOfWorkload(w.uid()).stream()
              .map(Service::waypoint)
              .filter(java.util.Objects::nonNull)
              .forEach(wps::add);
        }
      }
      if (!wps.isEmpty()) {
        out.add(
            info(
                "EnvoyFilter " + rl.namespace() + "/" + rl.name(),
                "local rate limit "
                    + rl.tokensPerFill()
                    + " requests per "
                    + rl.fillInterval().toSeconds()
                    + "s (burst "
                    + rl.maxTokens()
                    + ") at waypoint(s) "
                    + wps));
      }
    }
    return out;
  }

  private static Finding info(String object, String message) {
    return new Finding(Level.INFO, "AMB0100", object, "", "applies: " + message);
  }

  private static String addresses(List<java.net.InetAddress> addresses) {
    return addresses.isEmpty()
        ? "none yet"
        : addresses.stream().map(java.net.InetAddress::getHostAddress).toList().toString();
  }

  private static java.util.Optional<WaypointRef> waypointOf(
      MeshSnapshot snapshot, String host, String ns) {
    return snapshot.findServiceByHostname(host, ns).map(Service::waypoint);
  }


  private void virtualServices() {
    // host (qualified) -> DestinationRule subsets
    Map<String, Set<String>> subsetsByHost = new HashMap<>();
    for (DestinationRule dr : snapshot.policies().destinationRules()) {
      String host = MeshSnapshot.qualify(dr.getSpec().getHost(), nsOf(dr));
      Set<String> names = subsetsByHost.computeIfAbsent(host, h -> new HashSet<>());
      for (Subset s :
          dr.getSpec().getSubsets() == null ? List.<Subset>of() : dr.getSpec().getSubsets()) {
        names.add(s.getName());
      }
    }
    for (DestinationRule dr : snapshot.policies().destinationRules()) {
      var svc = snapshot.findServiceByHostname(dr.getSpec().getHost(), nsOf(dr));
      if (svc.isEmpty()) {
        findings.add(
            new Finding(
                Level.WARNING,
                "IST0101",
                ref(dr),
                "spec.host",
                "host "
                    + dr.getSpec().getHost()
                    + " matches no Service; the DestinationRule has no effect"));
      } else {
        subsetsSelectPods(dr, svc.get());
      }
      if (svc.isPresent() && svc.get().waypoint() == null) {
        findings.add(
            new Finding(
                Level.WARNING,
                "AMB0108",
                ref(dr),
                "spec.host",
                "no effect in ambient mode: Service "
                    + svc.get().namespace()
                    + "/"
                    + svc.get().name()
                    + " has no waypoint, and only waypoints apply subsets, load balancing,"
                    + " connection pools and outlier detection (label the Service"
                    + " istio.io/use-waypoint)"));
      }
    }
    Map<String, VirtualService> firstByHost = new LinkedHashMap<>();
    for (VirtualService vs : snapshot.policies().virtualServices()) {
      String ns = nsOf(vs);
      String ref = ref(vs);
      var spec = vs.getSpec();
      Set<String> unknownHosts = new HashSet<>();
      for (int i = 0; i < spec.getHosts().size(); i++) {
        String host = spec.getHosts().get(i);
        String q = MeshSnapshot.qualify(host, ns);
        VirtualService other = firstByHost.putIfAbsent(q, vs);
        if (other != null) {
          findings.add(
              new Finding(
                  Level.WARNING,
                  "IST0109",
                  ref,
                  "spec.hosts[" + i + "]",
                  "host "
                      + host
                      + " is also routed by "
                      + ref(other)
                      + "; only one VirtualService per host applies (expected one VirtualService"
                      + " per host: merge their routes)"));
        }
        var svc = snapshot.findServiceByHostname(host, ns);
        if (svc.isEmpty()) {
          unknownHosts.add(q);
          findings.add(
              new Finding(
                  Level.ERROR,
                  "IST0101",
                  ref,
                  "spec.hosts[" + i + "]",
                  "host "
                      + host
                      + " matches no Service (expected name, name.namespace or"
                      + " name.namespace.svc.cluster.local)"));
        } else if (svc.get().waypoint() == null) {
          findings.add(
              new Finding(
                  Level.WARNING,
                  "AMB0108",
                  ref,
                  "spec.hosts[" + i + "]",
                  "no effect in ambient mode: Service "
                      + svc.get().namespace()
                      + "/"
                      + svc.get().name()
                      + " has no waypoint, and only waypoints apply HTTP routing (label the Service"
                      + " istio.io/use-waypoint)"));
        }
      }
      RouteRules.check(vs, ref, findings::add);
      List<HTTPRoute> http = spec.getHttp() == null ? List.of() : spec.getHttp();
      for (int i = 0; i < http.size(); i++) {
        List<HTTPRouteDestination> route =
            http.get(i).getRoute() == null ? List.of() : http.get(i).getRoute();
        List<Integer> weights = new ArrayList<>();
        for (int j = 0; j < route.size(); j++) {
          var d = route.get(j).getDestination();
          destination(
              ref,
              ns,
              unknownHosts,
              "spec.http[" + i + "].route[" + j + "].destination",
              d.getHost(),
              d.getSubset(),
              subsetsByHost);
          weights.add(route.get(j).getWeight());
        }
        weights(ref, "spec.http[" + i + "].route", weights);
      }
      List<TCPRoute> tcp = spec.getTcp() == null ? List.of() : spec.getTcp();
      for (int i = 0; i < tcp.size(); i++) {
        List<RouteDestination> route =
            tcp.get(i).getRoute() == null ? List.of() : tcp.get(i).getRoute();
        List<Integer> weights = new ArrayList<>();
        for (int j = 0; j < route.size(); j++) {
          var d = route.get(j).getDestination();
          destination(
              ref,
              ns,
              unknownHosts,
              "spec.tcp[" + i + "].route[" + j + "].destination",
              d.getHost(),
              d.getSubset(),
              subsetsByHost);
          weights.add(route.get(j).getWeight());
        }
        weights(ref, "spec.tcp[" + i + "].route", weights);
      }
    }
  }

  /**
   * IST0173: a subset whose labels select none of the Service's pods; requests routed to it find
   * no endpoint (503).
   */
  private void subsetsSelectPods(DestinationRule dr, Service svc) {
    List<Subset> subsets =
        dr.getSpec().getSubsets() == null ? List.of() : dr.getSpec().getSubsets();
    for (int i = 0; i < subsets.size(); i++) {
      Map<String, String> labels =
          subsets.get(i).getLabels() == null ? Map.of() : subsets.get(i).getLabels();
      boolean any = svc.endpoints().stream()
          .map(e -> snapshot.findWorkloadByUid(e.workloadUid()))
          .flatMap(java.util.Optional::stream)
          .anyMatch(w -> w.labels().entrySet().containsAll(labels.entrySet()));
      if (!any) {
        findings.add(new Finding(Level.ERROR, "IST0173", ref(dr), "spec.subsets[" + i + "]",
            "subset \"" + subsets.get(i).getName() + "\" (labels " + labels + ") selects none of"
                + " the pods of Service " + svc.namespace() + "/" + svc.name()
                + "; requests routed to it get 503 (no healthy upstream)"));
      }
    }
  }

  private void destination(
      String ref,
      String ns,
      Set<String> unknownHosts,
      String field,
      String host,
      String subset,
      Map<String, Set<String>> subsetsByHost) {
    if (snapshot.findServiceByHostname(host, ns).isEmpty()
        && !unknownHosts.contains(MeshSnapshot.qualify(host, ns))) { // else reported on spec.hosts
      findings.add(
          new Finding(
              Level.ERROR,
              "IST0101",
              ref,
              field + ".host",
              "host "
                  + host
                  + " matches no Service (expected name, name.namespace or"
                  + " name.namespace.svc.cluster.local)"));
    }
    // Checked whether or not the Service is known: it may be defined elsewhere (another file, the
    // cluster), and the subset is missing all the same.
    if (subset != null && !subset.isEmpty()) {
      Set<String> defined = subsetsByHost.get(MeshSnapshot.qualify(host, ns));
      if (defined == null || !defined.contains(subset)) {
        findings.add(
            new Finding(
                Level.ERROR,
                "IST0101",
                ref,
                field + ".subset",
                "subset \""
                    + subset
                    + "\" of host "
                    + host
                    + " is not defined by any DestinationRule (requests to it get 503)"));
      }
    }
  }

  private void weights(String ref, String field, List<Integer> weights) {
    if (weights.size() == 1 && weights.get(0) == null) {
      return;
    }
    int sum = 0;
    for (Integer w : weights) {
      sum += w == null ? 0 : w;
    }
    if (weights.size() > 0 && sum != 100) {
      findings.add(
          new Finding(
              Level.WARNING, "AMB0103", ref, field, "weights sum to " + sum + " (expected 100)"));
    }
  }

  /** A backend or parent reference of an HTTPRoute or GRPCRoute. */
  private record RouteRef(String field, String group, String kind, String name, String namespace) {}

  /** HTTPRoute and GRPCRoute: attached to a waypoint or a Service with one, backends that exist. */
  private void gatewayRoutes() {
    for (io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute r :
        snapshot.policies().httpRoutes()) {
      List<RouteRef> parents = new ArrayList<>();
      List<RouteRef> backends = new ArrayList<>();
      var spec = r.getSpec();
      if (spec != null) {
        parents(spec.getParentRefs(), parents);
        List<HTTPRouteRule> rules = spec.getRules() == null ? List.of() : spec.getRules();
        for (int i = 0; i < rules.size(); i++) {
          List<HTTPBackendRef> refs =
              rules.get(i).getBackendRefs() == null ? List.of() : rules.get(i).getBackendRefs();
          for (int j = 0; j < refs.size(); j++) {
            HTTPBackendRef b = refs.get(j);
            backends.add(
                new RouteRef(
                    "spec.rules[" + i + "].backendRefs[" + j + "]",
                    b.getGroup(),
                    b.getKind(),
                    b.getName(),
                    b.getNamespace()));
          }
        }
      }
      route(r, parents, backends);
    }
    for (GRPCRoute r : snapshot.policies().grpcRoutes()) {
      List<RouteRef> parents = new ArrayList<>();
      List<RouteRef> backends = new ArrayList<>();
      var spec = r.getSpec();
      if (spec != null) {
        parents(spec.getParentRefs(), parents);
        List<GRPCRouteRule> rules = spec.getRules() == null ? List.of() : spec.getRules();
        for (int i = 0; i < rules.size(); i++) {
          List<GRPCBackendRef> refs =
              rules.get(i).getBackendRefs() == null ? List.of() : rules.get(i).getBackendRefs();
          for (int j = 0; j < refs.size(); j++) {
            GRPCBackendRef b = refs.get(j);
            backends.add(
                new RouteRef(
                    "spec.rules[" + i + "].backendRefs[" + j + "]",
                    b.getGroup(),
                    b.getKind(),
                    b.getName(),
                    b.getNamespace()));
          }
        }
      }
      route(r, parents, backends);
    }
  }

  private static void parents(List<ParentReference> refs, List<RouteRef> out) {
    List<ParentReference> list = refs == null ? List.of() : refs;
    for (int i = 0; i < list.size(); i++) {
      ParentReference p = list.get(i);
      out.add(
          new RouteRef(
              "spec.parentRefs[" + i + "]",
              p.getGroup(),
              p.getKind() == null ? "Gateway" : p.getKind(),
              p.getName(),
              p.getNamespace()));
    }
  }

  private static boolean isCoreService(RouteRef ref) {
    return (ref.kind() == null || ref.kind().equals("Service"))
        && (ref.group() == null || ref.group().isEmpty() || ref.group().equals("core"));
  }

  private void route(HasMetadata route, List<RouteRef> parents, List<RouteRef> backends) {
    String ns = nsOf(route);
    for (RouteRef p : parents) {
      String pns = p.namespace() == null || p.namespace().isEmpty() ? ns : p.namespace();
      if ("Service".equals(p.kind()) && isCoreService(p)) {
        var svc = snapshot.findServiceByHostname(p.name() + "." + pns, pns);
        if (svc.isEmpty()) {
          findings.add(
              new Finding(
                  Level.WARNING,
                  "IST0101",
                  ref(route),
                  p.field(),
                  "Service " + pns + "/" + p.name() + " does not exist; the route has no effect"));
        } else if (svc.get().waypoint() == null) {
          findings.add(
              new Finding(
                  Level.WARNING,
                  "AMB0108",
                  ref(route),
                  p.field(),
                  "no effect in ambient mode: Service "
                      + pns
                      + "/"
                      + p.name()
                      + " has no waypoint, and only waypoints apply HTTP routing (label the Service"
                      + " istio.io/use-waypoint)"));
        }
      } else if ("Gateway".equals(p.kind())
          && snapshot.findWaypoint(new WaypointRef(pns, p.name())).isEmpty()) {
        findings.add(
            new Finding(
                Level.INFO,
                "AMB0105",
                ref(route),
                p.field(),
                "not applicable to ambient mode: Gateway "
                    + pns
                    + "/"
                    + p.name()
                    + " is not a waypoint (routes for ingress gateways are not part of the ambient"
                    + " data plane)"));
      }
    }
    for (RouteRef b : backends) {
      if (!isCoreService(b)) {
        continue;
      }
      String bns = b.namespace() == null || b.namespace().isEmpty() ? ns : b.namespace();
      if (snapshot.findServiceByHostname(b.name() + "." + bns, bns).isEmpty()) {
        findings.add(
            new Finding(
                Level.ERROR,
                "IST0101",
                ref(route),
                b.field(),
                "Service "
                    + bns
                    + "/"
                    + b.name()
                    + " does not exist (requests routed to it fail)"));
      }
    }
  }

  /** istio.io/use-waypoint on namespaces, Services and Pods. */
  private void waypointLabels() {
    WaypointAdmission admission = new WaypointAdmission(objects);
    for (HasMetadata o : objects) {
      String kind = o.getKind();
      if (o.getMetadata() == null
          || o.getMetadata().getLabels() == null
          || !("Namespace".equals(kind) || "Service".equals(kind) || "Pod".equals(kind))
          || rejected.contains(ref(o))) {
        continue;
      }
      Map<String, String> labels = o.getMetadata().getLabels();
      String name = labels.get(LABEL_USE_WAYPOINT);
      if (name == null
          || name.isEmpty()
          || name.equals("none")
          || labels.containsKey(LABEL_GATEWAY_NAME)) {
        continue;
      }
      String ns = "Namespace".equals(kind) ? o.getMetadata().getName() : nsOf(o);
      String wpNs = labels.getOrDefault(LABEL_USE_WAYPOINT_NAMESPACE, ns);
      WaypointRef wanted = new WaypointRef(wpNs, name);
      String field = "metadata.labels[" + LABEL_USE_WAYPOINT + "]";
      var wp = snapshot.findWaypoint(wanted);
      if (wp.isEmpty()) {
        String what = admission.gatewayClassOf(wpNs, name)
            .map(c -> "Gateway " + wanted + " is not a waypoint (its gatewayClassName is "
                + (c.isEmpty() ? "missing" : c) + ")")
            .orElse("waypoint " + wanted + " does not exist");
        findings.add(
            new Finding(
                Level.WARNING,
                "AMB0104",
                ref(o),
                field,
                what
                    + "; traffic is not sent to a waypoint"
                    + " (expected a Gateway of class istio-waypoint named "
                    + name
                    + " in namespace "
                    + wpNs
                    + ")"));
        continue;
      }
      admission.refusal(wpNs, name, ns).ifPresent(why -> findings.add(new Finding(
          Level.WARNING,
          "AMB0111",
          ref(o),
          field,
          "waypoint " + wanted + " does not admit namespace " + ns + ": " + why
              + "; Istio ignores this binding, while ambientj honours it (expected the Gateway's"
              + " HBONE listener to admit namespace " + ns + ": allowedRoutes.namespaces.from: All,"
              + " or Selector matching it)")));
      Waypoint w = wp.get();
      if ("Service".equals(kind) && !w.servesServices()) {
        findings.add(
            new Finding(
                Level.WARNING,
                "AMB0106",
                ref(o),
                field,
                "waypoint "
                    + wanted
                    + " is for "
                    + w.waypointFor()
                    + " traffic, so the Service is not bound to it"
                    + " (expected istio.io/waypoint-for: service or all on the Gateway)"));
      } else if ("Pod".equals(kind) && !w.servesWorkloads()) {
        findings.add(
            new Finding(
                Level.WARNING,
                "AMB0106",
                ref(o),
                field,
                "waypoint "
                    + wanted
                    + " is for "
                    + w.waypointFor()
                    + " traffic, so the Pod is not bound to it"
                    + " (expected istio.io/waypoint-for: workload or all on the Gateway)"));
      }
    }
  }

  private void authorizationPolicies() {
    for (AuthorizationPolicy ap : snapshot.policies().authorizationPolicies()) {
      var spec = ap.getSpec();
      if (spec == null) {
        continue;
      }
      String ns = nsOf(ap);
      l7AtZtunnel(ap, spec, ns);
      if (spec.getSelector() != null
          && spec.getSelector().getMatchLabels() != null
          && !spec.getSelector().getMatchLabels().isEmpty()) {
        Map<String, String> selector = spec.getSelector().getMatchLabels();
        List<Workload> selected = new ArrayList<>();
        for (Workload w : snapshot.workloads()) {
          if ((ns.equals(ROOT_NAMESPACE) || w.namespace().equals(ns))
              && w.labels().entrySet().containsAll(selector.entrySet())) {
            selected.add(w);
          }
        }
        if (selected.isEmpty()) {
          findings.add(
              new Finding(
                  Level.WARNING,
                  "IST0127",
                  ref(ap),
                  "spec.selector",
                  "matches no workload in namespace "
                      + ns
                      + " (labels "
                      + selector
                      + "); the policy has no effect"));
        } else {
          waypointBypass(ap, selected);
        }
      }
      List<PolicyTargetReference> targets = new ArrayList<>();
      if (spec.getTargetRef() != null) {
        targets.add(spec.getTargetRef());
      }
      if (spec.getTargetRefs() != null) {
        targets.addAll(spec.getTargetRefs());
      }
      for (int i = 0; i < targets.size(); i++) {
        PolicyTargetReference t = targets.get(i);
        String tns = t.getNamespace() == null || t.getNamespace().isEmpty() ? ns : t.getNamespace();
        String field =
            spec.getTargetRef() != null && i == 0
                ? "spec.targetRef"
                : "spec.targetRefs[" + (spec.getTargetRef() != null ? i - 1 : i) + "]";
        if ("Service".equals(t.getKind())) {
          var svc = snapshot.findServiceByHostname(t.getName() + "." + tns, tns);
          if (svc.isEmpty()) {
            findings.add(
                new Finding(
                    Level.WARNING,
                    "IST0101",
                    ref(ap),
                    field,
                    "Service "
                        + tns
                        + "/"
                        + t.getName()
                        + " does not exist; the policy has no effect"));
          } else if (svc.get().waypoint() == null) {
            findings.add(
                new Finding(
                    Level.WARNING,
                    "AMB0108",
                    ref(ap),
                    field,
                    "no effect in ambient mode: Service "
                        + tns
                        + "/"
                        + t.getName()
                        + " has no waypoint, and a policy attached to a Service is enforced by its"
                        + " waypoint"));
          }
        } else if ("Gateway".equals(t.getKind())) {
          if (snapshot.findWaypoint(new WaypointRef(tns, t.getName())).isEmpty()) {
            findings.add(
                new Finding(
                    Level.WARNING,
                    "IST0101",
                    ref(ap),
                    field,
                    "waypoint "
                        + tns
                        + "/"
                        + t.getName()
                        + " does not exist; the policy has no effect"));
          }
        }
      }
    }
  }

  /**
   * A policy enforced by ztunnel (selector or namespace scope, no targetRefs) that uses L7
   * attributes: ztunnel cannot see them, so an ALLOW rule never matches and a DENY rule denies on
   * its L4 part alone (Istio's documented fail-safe). Suggests a waypoint and targetRefs.
   */
  private void l7AtZtunnel(AuthorizationPolicy ap, io.fabric8.istio.api.api.security.v1beta1.AuthorizationPolicy spec, String ns) {
    if (AuthorizationEngine.isWaypointPolicy(ap) || !AuthorizationEngine.usesL7Fields(ap)) {
      return;
    }
    Map<String, String> selector =
        spec.getSelector() == null || spec.getSelector().getMatchLabels() == null
            ? Map.of()
            : spec.getSelector().getMatchLabels();
    List<String> withoutWaypoint = new ArrayList<>();
    for (Workload w : snapshot.workloads()) {
      if ((ns.equals(ROOT_NAMESPACE) || w.namespace().equals(ns))
          && w.labels().entrySet().containsAll(selector.entrySet())
          && w.waypoint() == null
          && snapshot.findServicesOfWorkload(w.uid()).stream().allMatch(s -> s.waypoint() == null)) {
        withoutWaypoint.add(w.name());
      }
    }
    boolean deny = spec.getAction() == AuthorizationPolicyAction.DENY;
    findings.add(
        new Finding(
            Level.WARNING,
            "AMB0110",
            ref(ap),
            "spec.rules",
            "uses L7 attributes (paths, methods, hosts, headers or request principals) but is"
                + " enforced by ztunnel, which only sees L4: "
                + (deny
                    ? "the rule denies on its L4 attributes alone (more than written)"
                    : "the rule never matches, so the traffic it allows is denied")
                + (withoutWaypoint.isEmpty()
                    ? ""
                    : "; no waypoint serves " + String.join(", ", withoutWaypoint))
                + " (expected: deploy a waypoint and attach the policy with targetRefs to its"
                + " Service or Gateway)"));
  }

  /**
   * A selector (ztunnel-enforced) ALLOW policy that names source identities, on workloads reached
   * through a waypoint: ztunnel sees the waypoint's identity for that traffic, so the allowed
   * callers are denied.
   */
  private void waypointBypass(AuthorizationPolicy ap, List<Workload> selected) {
    var spec = ap.getSpec();
    boolean deny = spec.getAction() == AuthorizationPolicyAction.DENY;
    if (spec.getAction() != null && spec.getAction() != AuthorizationPolicyAction.ALLOW && !deny) {
      return;
    }
    Set<String> principals = new HashSet<>();
    boolean namesSources = false;
    for (Rule r : spec.getRules() == null ? List.<Rule>of() : spec.getRules()) {
      for (RuleFrom f : r.getFrom() == null ? List.<RuleFrom>of() : r.getFrom()) {
        if (f.getSource() == null) {
          continue;
        }
        if (f.getSource().getPrincipals() != null) {
          principals.addAll(f.getSource().getPrincipals());
          namesSources = true;
        }
        if (f.getSource().getNamespaces() != null || f.getSource().getServiceAccounts() != null) {
          namesSources = true;
        }
      }
    }
    if (!namesSources) {
      return;
    }
    for (Workload w : selected) {
      for (Service s : snapshot.findServicesOfWorkload(w.uid())) {
        if (s.waypoint() == null) {
          continue;
        }
        var wp = snapshot.findWaypoint(s.waypoint());
        if (wp.isEmpty()
            || principals.contains(wp.get().spiffeId().substring("spiffe://".length()))
            || principals.contains("*")) {
          continue;
        }
        findings.add(
            new Finding(
                Level.WARNING,
                "AMB0107",
                ref(ap),
                "spec.selector",
                "selects "
                    + w.name()
                    + ", reached through waypoint "
                    + s.waypoint()
                    + " for Service "
                    + s.name()
                    + ": ztunnel sees the waypoint's identity, so "
                    + (deny ? "the denied sources get through on that path"
                        : "the allowed sources are denied on that path")
                    + " (expected targetRefs: [{kind: Service, group: \"\", name: "
                    + s.name()
                    + "}] so the waypoint enforces it)"));
        return;
      }
    }
  }

  private void rateLimits() {
    for (LocalRateLimit rl : snapshot.policies().localRateLimits()) {
      boolean any = false;
      boolean behindWaypoint = false;
      for (Workload w : snapshot.workloads()) {
        if (rl.selects(w.namespace(), w.labels())) {
          any = true;
          behindWaypoint |=
              w.waypoint() != null
                  || snapshot.findServicesOfWorkload(w.uid()).stream()
                      .anyMatch(s -> s.waypoint() != null);
        }
      }
      if (any && !behindWaypoint) {
        findings.add(
            new Finding(
                Level.WARNING,
                "AMB0108",
                "EnvoyFilter " + rl.namespace() + "/" + rl.name(),
                "spec.workloadSelector",
                "no effect in ambient mode: none of the selected workloads is behind a"
                    + " waypoint, and local rate limits are applied by waypoints"));
      }
      if (!any) {
        findings.add(
            new Finding(
                Level.WARNING,
                "AMB0109",
                "EnvoyFilter " + rl.namespace() + "/" + rl.name(),
                "spec.workloadSelector",
                "matches no workload in namespace "
                    + rl.namespace()
                    + " (labels "
                    + rl.workloadSelector()
                    + "); the rate limit has no effect"));
      }
    }
  }
}
