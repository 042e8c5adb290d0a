package dev.ambientj.waypoint;

import dev.ambientj.config.authz.AuthorizationEngine;
import dev.ambientj.config.authz.EnforcementPoint;
import dev.ambientj.config.authz.WorkloadAuthorizer;
import dev.ambientj.config.model.LocalRateLimit;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Service;
import dev.ambientj.config.model.ServicePort;
import dev.ambientj.config.model.Waypoint;
import dev.ambientj.config.model.WaypointRef;
import dev.ambientj.config.model.Workload;
import dev.ambientj.waypoint.cluster.Cluster;
import dev.ambientj.waypoint.cluster.ClusterManager;
import dev.ambientj.waypoint.cluster.ClusterPolicy;
import dev.ambientj.waypoint.cluster.DestinationRuleCompiler;
import dev.ambientj.waypoint.filter.ratelimit.RateLimiter;
import dev.ambientj.waypoint.filter.ratelimit.TokenBucket;
import dev.ambientj.waypoint.route.GatewayRouteCompiler;
import dev.ambientj.waypoint.route.HeaderOps;
import dev.ambientj.waypoint.route.RequestMatch;
import dev.ambientj.waypoint.route.RetryPolicy;
import dev.ambientj.waypoint.route.Route;
import dev.ambientj.waypoint.route.RouteAction;
import dev.ambientj.waypoint.route.RouteTable;
import dev.ambientj.waypoint.route.VirtualServiceCompiler;
import dev.ambientj.waypoint.route.WeightedDestination;
import io.fabric8.istio.api.networking.v1.DestinationRule;
import io.fabric8.istio.api.networking.v1.VirtualService;
import io.fabric8.istio.api.security.v1.AuthorizationPolicy;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Everything the data path needs from one snapshot, compiled for one waypoint: which
 * VIP:port pairs it serves (with routes, authorization and rate limits per service port), which
 * workloads are bound to it, and the DestinationRules by host. Built off the data path when a
 * snapshot arrives and swapped in with one reference write; readers take it once per connection.
 *
 * <p>Clusters are resolved lazily (a route may name any service) and memoized per config.
 *
 * <p><b>Route precedence for a service:</b> Gateway API routes (HTTPRoute / GRPCRoute with a
 * Service {@code parentRef}) win over VirtualServices for the same service; among several
 * VirtualServices for one host the oldest applies (Istio does not merge them for mesh traffic);
 * without either, a default route sends everything to the service with Istio's default retries.
 */
final class WaypointConfig {
  /** The outcome of resolving a route destination to a cluster. */
  record ClusterResolution(Cluster cluster, String error) {}

  private record ClusterCacheKey(String host, String subset, int port) {}

  private final MeshSnapshot snapshot;
  private final WaypointRef self;
  private final Waypoint waypoint;
  private final Map<InetAddress, Map<Integer, ServiceBinding>> byVip;
  private final Map<InetAddress, Workload> boundWorkloads;
  private final Map<String, DestinationRuleCompiler.Compiled> drByHost;
  private final ClusterManager clusters;
  private final Map<ClusterCacheKey, ClusterResolution> clusterCache = new ConcurrentHashMap<>();
  private final List<String> problems;
  /** {@code Telemetry} {@code tracing[].randomSamplingPercentage} for this waypoint, or null: none set. */
  private Double tracingSamplingPercentage;

  private WaypointConfig(MeshSnapshot snapshot, WaypointRef self, Waypoint waypoint,
      Map<InetAddress, Map<Integer, ServiceBinding>> byVip, Map<InetAddress, Workload> boundWorkloads,
      Map<String, DestinationRuleCompiler.Compiled> drByHost, ClusterManager clusters, List<String> problems) {
    this.snapshot = snapshot;
    this.self = self;
    this.waypoint = waypoint;
    this.byVip = byVip;
    this.boundWorkloads = boundWorkloads;
    this.drByHost = drByHost;
    this.clusters = clusters;
    this.problems = problems;
  }

  MeshSnapshot snapshot() {
    return snapshot;
  }

  /** This waypoint's record in the snapshot, or null when the snapshot does not (yet) have it. */
  Waypoint waypoint() {
    return waypoint;
  }

  String waypointName() {
    return self.namespace() + "/" + self.name();
  }

  List<String> problems() {
    return List.copyOf(problems);
  }

  /**
   * The share of new traces to sample, in percent, that the {@code Telemetry} resources in force
   * for this waypoint set, or null when none does (the process default applies).
   */
  Double tracingSamplingPercentage() {
    return tracingSamplingPercentage;
  }

  /** The binding of a VIP:port, or null. */
  ServiceBinding findBinding(InetAddress vip, int port) {
    Map<Integer, ServiceBinding> m = byVip.get(vip);
    return m == null ? null : m.get(port);
  }

  /** Whether the VIP belongs to a service this waypoint serves (any port). */
  boolean servesVip(InetAddress vip) {
    return byVip.containsKey(vip);
  }

  /** A workload bound to this waypoint (workload-addressed traffic), or null. */
  Workload findBoundWorkload(InetAddress address) {
    return boundWorkloads.get(address);
  }

  /**
   * The cluster for a route destination. {@code requestPort} is used when the destination names
   * no port. Errors (unknown service, missing subset, missing port) are operator-facing.
   */
  ClusterResolution resolveCluster(WeightedDestination d, int requestPort) {
    return clusterCache.computeIfAbsent(new ClusterCacheKey(d.host(), d.subset(), d.port() == 0 ? requestPort : d.port()),
        k -> resolve(k.host(), k.subset(), k.port()));
  }

  private ClusterResolution resolve(String host, String subset, int port) {
    Service svc = snapshot.findServiceByHostname(host, null).orElse(null);
    if (svc == null) {
      return new ClusterResolution(null, "no service " + host + " in the mesh");
    }
    ServicePort sp = svc.findPort(port).orElse(null);
    if (sp == null) {
      if (svc.ports().size() == 1) {
        sp = svc.ports().get(0);
      } else {
        return new ClusterResolution(null, "service " + host + " has no port " + port);
      }
    }
    DestinationRuleCompiler.Compiled dr = drByHost.get(svc.hostname());
    Map<String, String> labels = null;
    if (subset != null) {
      labels = dr == null ? null : dr.subsetLabels(subset);
      if (labels == null) {
        return new ClusterResolution(null, "route to missing subset \"" + subset + "\" of " + host
            + (dr == null ? ": no DestinationRule for this host defines subsets"
                : ": " + dr.ref() + " does not define it"));
      }
    }
    ClusterPolicy policy = dr == null ? ClusterPolicy.DEFAULT : dr.policyFor(subset);
    return new ClusterResolution(clusters.build(snapshot, svc, sp, subset, labels, policy), null);
  }

  /** Compiles the snapshot for waypoint {@code self}. Never throws for bad config: problems are collected. */
  static WaypointConfig compile(MeshSnapshot snap, WaypointRef self, ClusterManager clusters, RateLimiter limiter) {
    List<String> problems = new ArrayList<>();
    Waypoint wp = snap.findWaypoint(self).orElse(null);
    var policies = snap.policies();

    Map<String, DestinationRuleCompiler.Compiled> drs = new HashMap<>();
    for (DestinationRule dr : sortedByAge(policies.destinationRules())) {
      String host = DestinationRuleCompiler.host(dr);
      if (host == null || drs.containsKey(host)) {
        continue;
      }
      try {
        drs.put(host, DestinationRuleCompiler.compile(dr, problems::add));
      } catch (RuntimeException e) {
        problems.add(DestinationRuleCompiler.ref(dr) + ": " + e.getMessage() + " (ignored)");
      }
    }

    List<VirtualService> vss = sortedByAge(policies.virtualServices());
    List<HTTPRoute> hrs = sortedByAge(policies.httpRoutes());
    List<GRPCRoute> grs = sortedByAge(policies.grpcRoutes());

    Map<InetAddress, Map<Integer, ServiceBinding>> byVip = new HashMap<>();
    for (Service svc : snap.services()) {
      if (!self.equals(svc.waypoint())) {
        continue;
      }
      RouteTableSet tables = routeTables(svc, vss, hrs, grs, problems);
      AuthorizationEngine engine = AuthorizationEngine.compile(authorizationPoliciesFor(snap, svc, self),
          AuthorizationEngine.DEFAULT_ROOT_NAMESPACE, EnforcementPoint.WAYPOINT);
      problems.addAll(engine.problems());
      WorkloadAuthorizer authz = engine.forAttachedPolicies();
      List<TokenBucket> buckets = new ArrayList<>();
      for (LocalRateLimit l : policies.localRateLimits()) {
        if (selectsAnyEndpoint(snap, svc, l)) {
          buckets.add(limiter.bucketFor(l));
        }
      }
      Map<Integer, ServiceBinding> ports = new LinkedHashMap<>();
      for (ServicePort p : svc.ports()) {
        PortProtocol proto = PortProtocol.of(p);
        ports.put(p.port(), new ServiceBinding(svc, p, proto, tables.forPort(svc, p), authz, List.copyOf(buckets)));
      }
      for (InetAddress vip : svc.vips()) {
        byVip.put(vip, Map.copyOf(ports));
      }
    }
    Map<InetAddress, Workload> bound = new HashMap<>();
    for (Workload w : snap.workloads()) {
      if (self.equals(w.waypoint())) {
        for (InetAddress a : w.addresses()) {
          bound.put(a, w);
        }
      }
    }
    WaypointConfig cfg = new WaypointConfig(snap, self, wp, Map.copyOf(byVip), Map.copyOf(bound), Map.copyOf(drs),
        clusters, problems);
    // published with the config (AtomicReference.set), never changed after
    cfg.tracingSamplingPercentage = dev.ambientj.config.TelemetryTracing.samplingPercentage(policies.telemetries(),
        self, AuthorizationEngine.DEFAULT_ROOT_NAMESPACE);
    cfg.checkDestinations();
    return cfg;
  }

  /**
   * Resolves every route destination once, so that a route to a missing subset or service is
   * reported when the config arrives (the request that hits it still gets 503 with flag NC).
   */
  private void checkDestinations() {
    Set<String> seen = new java.util.HashSet<>();
    for (Map<Integer, ServiceBinding> ports : byVip.values()) {
      for (ServiceBinding b : ports.values()) {
        for (Route r : b.routes().routes()) {
          if (r.action() instanceof RouteAction.Forward f) {
            for (WeightedDestination d : f.destinations()) {
              ClusterResolution res = resolveCluster(d, b.port().port());
              if (res.error() != null && seen.add(r.name() + res.error())) {
                problems.add(r.name() + ": " + res.error() + " (requests matching it get 503)");
              }
            }
          }
        }
      }
    }
  }

  /** The routes of one service: Gateway API routes if any bind it, else its VirtualService, else default. */
  private record RouteTableSet(String source, List<Route> routes) {
    RouteTable forPort(Service svc, ServicePort p) {
      if (routes == null) {
        return defaultTable(svc, p);
      }
      return new RouteTable(source, routes);
    }
  }

  static RouteTable defaultTable(Service svc, ServicePort p) {
    Route r = new Route("default " + svc.hostname() + ":" + p.port(), List.of(RequestMatch.ANY),
        new RouteAction.Forward(List.of(new WeightedDestination(svc.hostname(), null, p.port(), 100, null, null))),
        HeaderOps.NONE, HeaderOps.NONE, null, false, null, Duration.ZERO, RetryPolicy.ISTIO_DEFAULT, null);
    return new RouteTable("default", List.of(r));
  }

  private static RouteTableSet routeTables(Service svc, List<VirtualService> vss, List<HTTPRoute> hrs,
      List<GRPCRoute> grs, List<String> problems) {
    List<Route> gw = new ArrayList<>();
    List<String> sources = new ArrayList<>();
    for (HTTPRoute hr : hrs) {
      Set<Integer> ports = GatewayRouteCompiler.boundPorts(hr.getSpec() == null ? null : hr.getSpec().getParentRefs(),
          hr.getMetadata().getNamespace(), svc.name(), svc.namespace());
      for (int port : ports) {
        gw.addAll(GatewayRouteCompiler.compile(hr, port, problems::add));
        sources.add(GatewayRouteCompiler.ref(hr));
      }
    }
    for (GRPCRoute gr : grs) {
      Set<Integer> ports = GatewayRouteCompiler.boundPorts(gr.getSpec() == null ? null : gr.getSpec().getParentRefs(),
          gr.getMetadata().getNamespace(), svc.name(), svc.namespace());
      for (int port : ports) {
        gw.addAll(GatewayRouteCompiler.compile(gr, port, problems::add));
        sources.add(GatewayRouteCompiler.ref(gr));
      }
    }
    VirtualService chosen = null;
    for (VirtualService vs : vss) {
      if (VirtualServiceCompiler.appliesToMesh(vs) && VirtualServiceCompiler.hostsInclude(vs, svc.hostname())) {
        if (chosen == null) {
          chosen = vs;
        } else {
          problems.add(VirtualServiceCompiler.ref(vs) + ": another VirtualService (" + VirtualServiceCompiler.ref(chosen)
              + ") already routes " + svc.hostname() + "; Istio does not merge them for mesh traffic, so it is ignored");
        }
      }
    }
    if (!sources.isEmpty()) {
      if (chosen != null) {
        problems.add(VirtualServiceCompiler.ref(chosen) + ": ignored for " + svc.hostname()
            + " because Gateway API routes bind that service (" + String.join(", ", sources) + ") and take precedence");
      }
      return new RouteTableSet(String.join(", ", sources), gw);
    }
    if (chosen != null) {
      return new RouteTableSet(VirtualServiceCompiler.ref(chosen), VirtualServiceCompiler.compile(chosen, problems::add));
    }
    return new RouteTableSet("default", null);
  }

  /**
   * The AuthorizationPolicies the waypoint enforces for {@code svc}: those whose
   * {@code targetRef(s)} name this waypoint's Gateway or the Service, and those in the service's
   * namespace whose {@code selector} selects one of its endpoints.
   */
  private static List<AuthorizationPolicy> authorizationPoliciesFor(MeshSnapshot snap, Service svc, WaypointRef self) {
    List<AuthorizationPolicy> out = new ArrayList<>();
    for (AuthorizationPolicy p : snap.policies().authorizationPolicies()) {
      var spec = p.getSpec();
      if (spec == null) {
        continue;
      }
      String ns = p.getMetadata().getNamespace();
      List<io.fabric8.istio.api.api.type.v1beta1.PolicyTargetReference> refs = new ArrayList<>();
      if (spec.getTargetRefs() != null) {
        refs.addAll(spec.getTargetRefs());
      }
      if (spec.getTargetRef() != null) {
        refs.add(spec.getTargetRef());
      }
      boolean applies = false;
      for (var r : refs) {
        String refNs = r.getNamespace() == null || r.getNamespace().isEmpty() ? ns : r.getNamespace();
        if ("Gateway".equals(r.getKind()) && self.name().equals(r.getName()) && self.namespace().equals(refNs)) {
          applies = true;
        }
        if ("Service".equals(r.getKind()) && svc.name().equals(r.getName()) && svc.namespace().equals(refNs)) {
          applies = true;
        }
      }
      if (refs.isEmpty() && spec.getSelector() != null && spec.getSelector().getMatchLabels() != null
          && !spec.getSelector().getMatchLabels().isEmpty() && ns.equals(svc.namespace())) {
        Map<String, String> sel = spec.getSelector().getMatchLabels();
        for (var e : svc.endpoints()) {
          Workload w = snap.findWorkloadByUid(e.workloadUid()).orElse(null);
          if (w != null && w.labels().entrySet().containsAll(sel.entrySet())) {
            applies = true;
            break;
          }
        }
      }
      if (applies) {
        out.add(p);
      }
    }
    return out;
  }

  private static boolean selectsAnyEndpoint(MeshSnapshot snap, Service svc, LocalRateLimit l) {
    for (var e : svc.endpoints()) {
      Workload w = snap.findWorkloadByUid(e.workloadUid()).orElse(null);
      if (w != null && l.selects(w.namespace(), w.labels())) {
        return true;
      }
    }
    return false;
  }

  private static <T extends HasMetadata> List<T> sortedByAge(List<T> in) {
    List<T> out = new ArrayList<>(in);
    out.sort(Comparator.comparing((T o) -> o.getMetadata().getCreationTimestamp() == null ? "" : o.getMetadata().getCreationTimestamp())
        .thenComparing(o -> o.getMetadata().getNamespace() == null ? "" : o.getMetadata().getNamespace())
        .thenComparing(o -> o.getMetadata().getName()));
    return out;
  }
}
