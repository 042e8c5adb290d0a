package dev.ambientj.config.xds;

import dev.ambientj.config.model.LocalRateLimit;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Service;
import dev.ambientj.config.model.WaypointRef;
import dev.ambientj.config.model.Workload;
import io.fabric8.istio.api.api.networking.v1alpha3.Destination;
import io.fabric8.istio.api.api.type.v1beta1.PolicyTargetReference;
import io.fabric8.istio.api.networking.v1.DestinationRule;
import io.fabric8.istio.api.networking.v1.VirtualService;
import io.fabric8.istio.api.security.v1.AuthorizationPolicy;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.BackendObjectReference;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRouteFilter;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.ParentReference;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Which {@code MeshObject}s a waypoint needs: the L7 configuration of the services bound to it
 * ({@code Service.waypoint} = this Gateway), and nothing of the rest of the mesh.
 *
 * <ul>
 *   <li>VirtualServices for the mesh ({@code gateways} empty or {@code mesh}) one of whose {@code
 *       hosts} names a bound service (exact, short or wildcard form);
 *   <li>HTTPRoutes and GRPCRoutes with a {@code Service} parentRef naming a bound service;
 *   <li>DestinationRules for a bound service or for any destination of those routes (a route may
 *       send a bound service's traffic anywhere, and the destination's subsets and load balancer
 *       come from its DestinationRule);
 *   <li>AuthorizationPolicies whose {@code targetRef(s)} name this Gateway or a bound service, and
 *       selector policies (without targetRefs) selecting an endpoint of a bound service in its
 *       namespace;
 *   <li>local rate limits selecting an endpoint of a bound service;
 *   <li>Telemetry resources that may set its trace sampling ({@link
 *       dev.ambientj.config.TelemetryTracing}).
 * </ul>
 *
 * <p>PeerAuthentications are L4 (ztunnel's) and not sent. The rules mirror what the waypoint
 * compiles per bound service; where they differ, they err on the side of sending more.
 *
 * <p>Stateless; every method is a pure function of its arguments.
 */
final class WaypointScope {
  static final String GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name";

  private WaypointScope() {}

  /**
   * The Gateway a waypoint's xDS node runs for. {@code mesh waypoint} sends the Gateway's name
   * as its pod name; a waypoint pod in a cluster sends its own name ({@code <gateway>-<hash>}),
   * so in order: a Gateway of that name in the pod's namespace, the {@value #GATEWAY_NAME_LABEL}
   * label of the pod of that name, a Gateway of the pod's namespace whose name prefixes the pod
   * name followed by {@code -}; else the pod name (a Gateway that does not exist yet, bound to
   * nothing).
   */
  static WaypointRef resolve(MeshSnapshot s, ProxyNode node) {
    WaypointRef exact = new WaypointRef(node.podNamespace(), node.podName());
    if (s.findWaypoint(exact).isPresent()) {
      return exact;
    }
    for (Workload w : s.workloads()) {
      if (w.name().equals(node.podName()) && w.namespace().equals(node.podNamespace())) {
        String gw = w.labels().get(GATEWAY_NAME_LABEL);
        if (gw != null && !gw.isEmpty()) {
          return new WaypointRef(node.podNamespace(), gw);
        }
      }
    }
    WaypointRef longest = null;
    for (var wp : s.waypoints()) {
      if (wp.namespace().equals(node.podNamespace())
          && node.podName().startsWith(wp.name() + "-")
          && (longest == null || wp.name().length() > longest.name().length())) {
        longest = wp.ref();
      }
    }
    return longest != null ? longest : exact;
  }

  /** The {@code Kind/namespace/name} keys of the MeshObjects waypoint {@code self} needs. */
  static Set<String> meshObjectKeys(MeshSnapshot s, WaypointRef self) {
    List<Service> bound = new ArrayList<>();
    Set<String> boundHosts = new HashSet<>();
    for (Service svc : s.services()) {
      if (self.equals(svc.waypoint())) {
        bound.add(svc);
        boundHosts.add(svc.hostname().toLowerCase(Locale.ROOT));
      }
    }
    Set<String> keys = new HashSet<>();
    if (bound.isEmpty()) {
      return keys;
    }
    var p = s.policies();
    Set<String> destinations = new HashSet<>(boundHosts);
    for (VirtualService vs : p.virtualServices()) {
      if (appliesToMesh(vs) && hostsIncludeAny(vs, boundHosts)) {
        keys.add(key(vs));
        destinations.addAll(destinations(vs));
      }
    }
    for (HTTPRoute r : p.httpRoutes()) {
      if (r.getSpec() != null && bindsAny(r.getSpec().getParentRefs(), ns(r), bound)) {
        keys.add(key(r));
        if (r.getSpec().getRules() != null) {
          for (var rule : r.getSpec().getRules()) {
            if (rule.getBackendRefs() != null) {
              for (var b : rule.getBackendRefs()) {
                addBackend(destinations, b.getKind(), b.getName(), b.getNamespace(), ns(r));
                addMirrors(destinations, b.getFilters(), ns(r));
              }
            }
            addMirrors(destinations, rule.getFilters(), ns(r));
          }
        }
      }
    }
    for (GRPCRoute r : p.grpcRoutes()) {
      if (r.getSpec() != null && bindsAny(r.getSpec().getParentRefs(), ns(r), bound)) {
        keys.add(key(r));
        if (r.getSpec().getRules() != null) {
          for (var rule : r.getSpec().getRules()) {
            if (rule.getBackendRefs() != null) {
              for (var b : rule.getBackendRefs()) {
                addBackend(destinations, b.getKind(), b.getName(), b.getNamespace(), ns(r));
              }
            }
            if (rule.getFilters() != null) {
              for (var f : rule.getFilters()) {
                if (f.getRequestMirror() != null) {
                  addBackend(destinations, f.getRequestMirror().getBackendRef(), ns(r));
                }
              }
            }
          }
        }
      }
    }
    for (DestinationRule dr : p.destinationRules()) {
      String host = dr.getSpec() == null ? null : dr.getSpec().getHost();
      if (host != null && matchesAny(host, ns(dr), destinations)) {
        keys.add(key(dr));
      }
    }
    for (AuthorizationPolicy ap : p.authorizationPolicies()) {
      if (enforcedBy(s, ap, self, bound)) {
        keys.add(key(ap));
      }
    }
    for (var t : p.telemetries()) {
      if (dev.ambientj.config.TelemetryTracing.appliesTo(t, self,
          dev.ambientj.config.authz.AuthorizationEngine.DEFAULT_ROOT_NAMESPACE)) {
        keys.add(key(t));
      }
    }
    for (LocalRateLimit l : p.localRateLimits()) {
      if (bound.stream().anyMatch(svc -> selectsAnyEndpoint(s, svc,
          w -> l.selects(w.namespace(), w.labels())))) {
        keys.add(WdsEncoder.LOCAL_RATE_LIMIT + "/" + l.namespace() + "/" + l.name());
      }
    }
    return keys;
  }

  private static boolean appliesToMesh(VirtualService vs) {
    List<String> gws = vs.getSpec() == null ? null : vs.getSpec().getGateways();
    return gws == null || gws.isEmpty() || gws.contains("mesh");
  }

  private static boolean hostsIncludeAny(VirtualService vs, Set<String> fqdns) {
    if (vs.getSpec() == null || vs.getSpec().getHosts() == null) {
      return false;
    }
    for (String h : vs.getSpec().getHosts()) {
      if (h != null && matchesAny(h, ns(vs), fqdns)) {
        return true;
      }
    }
    return false;
  }

  /** Whether host {@code h} (short, FQDN or {@code *suffix}, of namespace {@code ns}) names one. */
  private static boolean matchesAny(String h, String ns, Set<String> fqdns) {
    if (h.startsWith("*")) {
      String suffix = h.substring(1).toLowerCase(Locale.ROOT);
      return suffix.isEmpty() || fqdns.stream().anyMatch(f -> f.endsWith(suffix));
    }
    String q = MeshSnapshot.qualify(h, ns);
    return q != null && fqdns.contains(q);
  }

  /** The destination hosts (qualified) of a VirtualService's routes and mirrors. */
  private static Set<String> destinations(VirtualService vs) {
    Set<String> out = new HashSet<>();
    var spec = vs.getSpec();
    if (spec == null) {
      return out;
    }
    String ns = ns(vs);
    if (spec.getHttp() != null) {
      for (var r : spec.getHttp()) {
        if (r.getRoute() != null) {
          r.getRoute().forEach(d -> addDestination(out, d.getDestination(), ns));
        }
        addDestination(out, r.getMirror(), ns);
        if (r.getMirrors() != null) {
          r.getMirrors().forEach(m -> addDestination(out, m.getDestination(), ns));
        }
      }
    }
    if (spec.getTcp() != null) {
      for (var r : spec.getTcp()) {
        if (r.getRoute() != null) {
          r.getRoute().forEach(d -> addDestination(out, d.getDestination(), ns));
        }
      }
    }
    if (spec.getTls() != null) {
      for (var r : spec.getTls()) {
        if (r.getRoute() != null) {
          r.getRoute().forEach(d -> addDestination(out, d.getDestination(), ns));
        }
      }
    }
    return out;
  }

  private static void addDestination(Set<String> out, Destination d, String ns) {
    if (d != null && d.getHost() != null) {
      String q = MeshSnapshot.qualify(d.getHost(), ns);
      if (q != null) {
        out.add(q);
      }
    }
  }

  private static void addMirrors(Set<String> out, List<HTTPRouteFilter> filters, String ns) {
    if (filters != null) {
      for (HTTPRouteFilter f : filters) {
        if (f.getRequestMirror() != null) {
          addBackend(out, f.getRequestMirror().getBackendRef(), ns);
        }
      }
    }
  }

  private static void addBackend(Set<String> out, BackendObjectReference b, String routeNs) {
    if (b != null) {
      addBackend(out, b.getKind(), b.getName(), b.getNamespace(), routeNs);
    }
  }

  private static void addBackend(Set<String> out, String kind, String name, String namespace,
      String routeNs) {
    if (name == null || (kind != null && !kind.equals("Service"))) {
      return;
    }
    String ns = namespace == null || namespace.isEmpty() ? routeNs : namespace;
    out.add((name + "." + ns + ".svc." + MeshSnapshot.CLUSTER_DOMAIN).toLowerCase(Locale.ROOT));
  }

  private static boolean bindsAny(List<ParentReference> parents, String routeNs,
      List<Service> bound) {
    if (parents == null) {
      return false;
    }
    for (ParentReference p : parents) {
      String kind = p.getKind() == null ? "Gateway" : p.getKind();
      String group = p.getGroup() == null ? "gateway.networking.k8s.io" : p.getGroup();
      if (!kind.equals("Service") || !(group.isEmpty() || group.equals("core"))) {
        continue;
      }
      String ns = p.getNamespace() == null || p.getNamespace().isEmpty()
          ? routeNs : p.getNamespace();
      for (Service svc : bound) {
        if (svc.name().equals(p.getName()) && svc.namespace().equals(ns)) {
          return true;
        }
      }
    }
    return false;
  }

  private static boolean enforcedBy(MeshSnapshot s, AuthorizationPolicy ap, WaypointRef self,
      List<Service> bound) {
    var spec = ap.getSpec();
    if (spec == null) {
      return false;
    }
    String ns = ns(ap);
    List<PolicyTargetReference> refs = new ArrayList<>();
    if (spec.getTargetRefs() != null) {
      refs.addAll(spec.getTargetRefs());
    }
    if (spec.getTargetRef() != null) {
      refs.add(spec.getTargetRef());
    }
    for (PolicyTargetReference r : refs) {
      String refNs = r.getNamespace() == null || r.getNamespace().isEmpty()
          ? ns : r.getNamespace();
      if ("Gateway".equals(r.getKind()) && self.name().equals(r.getName())
          && self.namespace().equals(refNs)) {
        return true;
      }
      if ("Service".equals(r.getKind())) {
        for (Service svc : bound) {
          if (svc.name().equals(r.getName()) && svc.namespace().equals(refNs)) {
            return true;
          }
        }
      }
    }
    if (!refs.isEmpty() || spec.getSelector() == null
        || spec.getSelector().getMatchLabels() == null
        || spec.getSelector().getMatchLabels().isEmpty()) {
      return false;
    }
    Map<String, String> sel = spec.getSelector().getMatchLabels();
    for (Service svc : bound) {
      if (svc.namespace().equals(ns)
          && selectsAnyEndpoint(s, svc, w -> w.labels().entrySet().containsAll(sel.entrySet()))) {
        return true;
      }
    }
    return false;
  }

  private static boolean selectsAnyEndpoint(MeshSnapshot s, Service svc,
      java.util.function.Predicate<Workload> selects) {
    for (var e : svc.endpoints()) {
      Workload w = s.findWorkloadByUid(e.workloadUid()).orElse(null);
      if (w != null && selects.test(w)) {
        return true;
      }
    }
    return false;
  }

  private static String ns(HasMetadata o) {
    return o.getMetadata().getNamespace() == null ? "" : o.getMetadata().getNamespace();
  }

  /** The MeshObject name {@link WdsEncoder} gives a Kubernetes object. */
  private static String key(HasMetadata o) {
    return o.getKind() + "/" + ns(o) + "/" + o.getMetadata().getName();
  }
}
