package dev.ambientj.config.xds;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import dev.ambientj.config.authz.AuthorizationEngine;
import dev.ambientj.config.model.ConfigRejection;
import dev.ambientj.config.model.Endpoint;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.LocalRateLimit;
import dev.ambientj.config.model.Node;
import dev.ambientj.config.model.PolicyObjects;
import dev.ambientj.config.model.Service;
import dev.ambientj.config.model.ServicePort;
import dev.ambientj.config.model.TunnelProtocol;
import dev.ambientj.config.model.Waypoint;
import dev.ambientj.config.model.WaypointRef;
import dev.ambientj.config.model.Workload;
import dev.ambientj.config.proto.security.Action;
import dev.ambientj.config.proto.security.Authorization;
import dev.ambientj.config.proto.security.Clause;
import dev.ambientj.config.proto.security.Match;
import dev.ambientj.config.proto.security.Rule;
import dev.ambientj.config.proto.security.Scope;
import dev.ambientj.config.proto.security.ServiceAccountMatch;
import dev.ambientj.config.proto.security.StringMatch;
import dev.ambientj.config.proto.workload.Address;
import dev.ambientj.config.proto.workload.AppProtocol;
import dev.ambientj.config.proto.workload.Extension;
import dev.ambientj.config.proto.workload.GatewayAddress;
import dev.ambientj.config.proto.workload.NamespacedHostname;
import dev.ambientj.config.proto.workload.NetworkAddress;
import dev.ambientj.config.proto.workload.Port;
import dev.ambientj.config.proto.workload.PortList;
import dev.ambientj.config.proto.workload.WorkloadStatus;
import dev.ambientj.config.proto.workload.WorkloadType;
import dev.ambientj.config.proto.xds.KubernetesObject;
import dev.ambientj.config.proto.xds.MeshNode;
import dev.ambientj.config.proto.xds.MeshObject;
import dev.ambientj.config.proto.xds.Rejection;
import dev.ambientj.config.proto.xds.ServiceDetails;
import dev.ambientj.config.proto.xds.ServicePortDetails;
import dev.ambientj.config.proto.xds.WaypointDetails;
import dev.ambientj.config.proto.xds.WorkloadDetails;
import io.fabric8.istio.api.api.security.v1beta1.AuthorizationPolicyAction;
import io.fabric8.istio.api.api.security.v1beta1.Condition;
import io.fabric8.istio.api.api.security.v1beta1.Operation;
import io.fabric8.istio.api.api.security.v1beta1.RuleFrom;
import io.fabric8.istio.api.api.security.v1beta1.RuleTo;
import io.fabric8.istio.api.api.security.v1beta1.Source;
import io.fabric8.istio.api.security.v1.AuthorizationPolicy;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Encodes a {@link MeshSnapshot} as WDS resources (ISTIO-FACTS §6): every workload and service as
 * an {@code istio.workload.Address}, the AuthorizationPolicies ztunnel enforces as {@code
 * istio.security.Authorization}, and the nodes as ambientj's {@code MeshNode}.
 *
 * <p>Mapping (decoded back by {@link WdsDecoder}):
 *
 * <ul>
 *   <li>Workload: name = uid; waypoint = GatewayAddress hostname {@code <gw>.<ns>.svc.cluster.local},
 *       port 15008; enrolled ⇔ tunnel HBONE; healthy ⇔ status HEALTHY; {@code services} = for each
 *       service the workload backs, its ports with the endpoint's resolved target port. The labels
 *       travel in the extension {@value #EXT_WORKLOAD}.
 *   <li>Service: name = {@code ns/hostname}; the VIPs as NetworkAddress; port names and the raw
 *       appProtocol in {@value #EXT_SERVICE}.
 *   <li>Waypoint: the extension {@value #EXT_WAYPOINT} on the Service named like the Gateway, or on
 *       a synthetic Service (marked so) when the mesh has none.
 *   <li>Authorization (only policies enforced at ztunnel: no {@code targetRef(s)}, action ALLOW or
 *       DENY): root namespace without selector → GLOBAL, namespace → NAMESPACE, selector →
 *       WORKLOAD_SELECTOR listed in the selected workloads' {@code authorization_policies}. L7
 *       attributes are resolved here as ztunnel would (an ALLOW rule using one is dropped, a DENY
 *       rule keeps its L4 part), so the receiver compiles the same L4 decision.
 *
 *   <li>MeshObject (ambientj's type): the policy objects WDS cannot carry, as validated Kubernetes
 *       JSON (VirtualService, DestinationRule, HTTPRoute, GRPCRoute, PeerAuthentication, and every
 *       AuthorizationPolicy whole, for waypoints), and the compiled local rate limits as typed
 *       messages. The server decides who gets which ({@link XdsServer}).
 *   <li>Rejection (ambientj's type): the snapshot's rejections, so that every proxy reports what
 *       the server refused as the server does.
 * </ul>
 *
 * <p>Not carried: the {@code NotApplicable} notes and the warnings (the server logs them). In
 * Authorization: AUDIT and CUSTOM policies (ztunnel never decides on them) and {@code
 * remoteIpBlocks} (sent as source IPs, which is what ztunnel sees).
 *
 * <p>Stateless and thread-safe.
 */
public final class WdsEncoder {
  public static final String EXT_WORKLOAD = "ambientj.dev/workload";
  public static final String EXT_SERVICE = "ambientj.dev/service";
  public static final String EXT_WAYPOINT = "ambientj.dev/waypoint";
  static final int HBONE_PORT = 15008;
  static final String LOCAL_RATE_LIMIT = "LocalRateLimit";
  static final KubernetesSerialization JSON = new KubernetesSerialization();

  private final String rootNamespace;

  public WdsEncoder() {
    this(AuthorizationEngine.DEFAULT_ROOT_NAMESPACE);
  }

  public WdsEncoder(String rootNamespace) {
    this.rootNamespace = rootNamespace;
  }

  /** Every resource of the snapshot. */
  public XdsResources encode(MeshSnapshot s) {
    Map<String, Map<String, Any>> out = new LinkedHashMap<>();
    Map<String, Any> nodes = new LinkedHashMap<>();
    for (Node n : s.nodes()) {
      MeshNode.Builder b = MeshNode.newBuilder().setName(n.name());
      n.addresses().forEach(a -> b.addAddresses(ByteString.copyFrom(a.getAddress())));
      nodes.put(n.name(), Any.pack(b.build()));
    }
    out.put(TypeUrls.MESH_NODE, nodes);

    Map<String, Any> authz = new LinkedHashMap<>();
    Map<String, List<String>> policiesByWorkload = new HashMap<>();
    // Selectors are matched against the workloads carrying one of their labels, not all of them:
    // with 500 policies and 5,000 workloads, matching each against each was most of an encode.
    Map<String, List<Workload>> byLabel = new HashMap<>();
    for (Workload w : s.workloads()) {
      w.labels().forEach((k, v) ->
          byLabel.computeIfAbsent(k + "=" + v, x -> new ArrayList<>()).add(w));
    }
    for (AuthorizationPolicy p : s.policies().authorizationPolicies()) {
      Authorization a = authorization(p);
      if (a == null) {
        continue;
      }
      String key = a.getNamespace() + "/" + a.getName();
      authz.put(key, Any.pack(a));
      if (a.getScope() == Scope.WORKLOAD_SELECTOR) {
        Map<String, String> sel = p.getSpec().getSelector().getMatchLabels();
        List<Workload> candidates = s.workloads();
        for (var e : sel.entrySet()) {
          List<Workload> having = byLabel.getOrDefault(e.getKey() + "=" + e.getValue(), List.of());
          if (having.size() < candidates.size()) {
            candidates = having;
          }
        }
        for (Workload w : candidates) {
          if ((a.getNamespace().equals(rootNamespace) || a.getNamespace().equals(w.namespace()))
              && w.labels().entrySet().containsAll(sel.entrySet())) {
            policiesByWorkload.computeIfAbsent(w.uid(), u -> new ArrayList<>()).add(key);
          }
        }
      }
    }

    Map<String, Any> addresses = new LinkedHashMap<>();
    Map<String, Map<String, PortList>> servicesByWorkload = new HashMap<>();
    for (Service svc : s.services()) {
      String key = svc.namespace() + "/" + svc.hostname();
      for (Endpoint e : svc.endpoints()) {
        PortList.Builder pl = PortList.newBuilder();
        for (ServicePort p : svc.ports()) {
          pl.addPorts(Port.newBuilder().setServicePort(p.port()).setTargetPort(e.targetPortFor(p))
              .setAppProtocol(appProtocol(p.appProtocol())));
        }
        servicesByWorkload.computeIfAbsent(e.workloadUid(), u -> new LinkedHashMap<>())
            .put(key, pl.build());
      }
    }
    for (Workload w : s.workloads()) {
      addresses.put(w.uid(), Any.pack(Address.newBuilder().setWorkload(workload(w,
          servicesByWorkload.getOrDefault(w.uid(), Map.of()),
          policiesByWorkload.getOrDefault(w.uid(), List.of()))).build()));
    }
    Map<String, Waypoint> waypointByHostname = new LinkedHashMap<>();
    for (Waypoint wp : s.waypoints()) {
      waypointByHostname.putIfAbsent(waypointHostname(wp.ref()), wp);
    }
    for (Service svc : s.services()) {
      dev.ambientj.config.proto.workload.Service.Builder b = service(svc);
      if (svc.hostname().equalsIgnoreCase(waypointHostname(new WaypointRef(svc.namespace(),
          svc.name())))) {
        Waypoint wp = waypointByHostname.remove(svc.hostname().toLowerCase(Locale.ROOT));
        if (wp != null) {
          b.addExtensions(ext(EXT_WAYPOINT, waypoint(wp, false)));
        }
      }
      addresses.put(svc.namespace() + "/" + svc.hostname(),
          Any.pack(Address.newBuilder().setService(b).build()));
    }
    for (Waypoint wp : waypointByHostname.values()) {
      String host = waypointHostname(wp.ref());
      addresses.put(wp.namespace() + "/" + host, Any.pack(Address.newBuilder().setService(
          dev.ambientj.config.proto.workload.Service.newBuilder().setName(wp.name())
              .setNamespace(wp.namespace()).setHostname(host)
              .addExtensions(ext(EXT_WAYPOINT, waypoint(wp, true)))).build()));
    }
    out.put(TypeUrls.ADDRESS, addresses);
    out.put(TypeUrls.AUTHORIZATION, authz);
    out.put(TypeUrls.MESH_OBJECT, meshObjects(s.policies()));
    out.put(TypeUrls.REJECTION, rejections(s.rejections()));
    return new XdsResources(out);
  }

  /** The rejections as {@code Rejection}s, named {@code Kind/ns/name} or by file position. */
  private static Map<String, Any> rejections(List<ConfigRejection> rejections) {
    Map<String, Any> out = new LinkedHashMap<>();
    for (ConfigRejection r : rejections) {
      String name = r.objectRef().isEmpty() ? r.location()
          : r.metricKind() + "/" + r.namespace() + "/" + r.name();
      String unique = name;
      for (int i = 2; out.containsKey(unique); i++) {
        unique = name + "#" + i;
      }
      out.put(unique, Any.pack(Rejection.newBuilder().setKind(r.kind())
          .setNamespace(r.namespace()).setName(r.name()).setField(r.field())
          .setProblem(r.problem()).setLocation(r.location())
          .setPreviousInForce(r.previousInForce()).build()));
    }
    return out;
  }

  /**
   * The policy objects as {@code MeshObject}s: every Kubernetes object of {@link PolicyObjects}
   * (AuthorizationPolicies too, whole, for waypoints) and the compiled local rate limits.
   */
  private static Map<String, Any> meshObjects(PolicyObjects p) {
    Map<String, Any> out = new LinkedHashMap<>();
    List<HasMetadata> objects = new ArrayList<>();
    objects.addAll(p.virtualServices());
    objects.addAll(p.destinationRules());
    objects.addAll(p.authorizationPolicies());
    objects.addAll(p.peerAuthentications());
    objects.addAll(p.httpRoutes());
    objects.addAll(p.grpcRoutes());
    objects.addAll(p.telemetries());
    for (HasMetadata o : objects) {
      String ns = o.getMetadata().getNamespace() == null ? "" : o.getMetadata().getNamespace();
      KubernetesObject k = KubernetesObject.newBuilder().setApiVersion(o.getApiVersion())
          .setKind(o.getKind()).setNamespace(ns).setName(o.getMetadata().getName())
          .setJson(JSON.asJson(o)).build();
      out.put(o.getKind() + "/" + ns + "/" + o.getMetadata().getName(),
          Any.pack(MeshObject.newBuilder().setKubernetes(k).build()));
    }
    for (LocalRateLimit l : p.localRateLimits()) {
      out.put(LOCAL_RATE_LIMIT + "/" + l.namespace() + "/" + l.name(),
          Any.pack(MeshObject.newBuilder().setLocalRateLimit(
              dev.ambientj.config.proto.xds.LocalRateLimit.newBuilder().setName(l.name())
                  .setNamespace(l.namespace())
                  .putAllWorkloadSelector(new TreeMap<>(l.workloadSelector()))
                  .setMaxTokens(l.maxTokens()).setTokensPerFill(l.tokensPerFill())
                  .setFillIntervalNanos(l.fillInterval().toNanos())
                  .setStatPrefix(l.statPrefix())).build()));
    }
    return out;
  }

  /** The hostname of a waypoint's Service: {@code <gateway>.<namespace>.svc.cluster.local}. */
  static String waypointHostname(WaypointRef ref) {
    return (ref.name() + "." + ref.namespace() + ".svc." + MeshSnapshot.CLUSTER_DOMAIN)
        .toLowerCase(Locale.ROOT);
  }

  private static Extension ext(String name, com.google.protobuf.Message config) {
    return Extension.newBuilder().setName(name).setConfig(Any.pack(config)).build();
  }

  private static GatewayAddress gateway(WaypointRef ref) {
    return GatewayAddress.newBuilder()
        .setHostname(NamespacedHostname.newBuilder().setNamespace(ref.namespace())
            .setHostname(waypointHostname(ref)))
        .setHboneMtlsPort(HBONE_PORT)
        .build();
  }

  private static dev.ambientj.config.proto.workload.Workload workload(Workload w,
      Map<String, PortList> services, List<String> policies) {
    var b = dev.ambientj.config.proto.workload.Workload.newBuilder()
        .setUid(w.uid()).setName(w.name()).setNamespace(w.namespace())
        .setTunnelProtocol(w.protocol() == TunnelProtocol.HBONE
            ? dev.ambientj.config.proto.workload.TunnelProtocol.HBONE
            : dev.ambientj.config.proto.workload.TunnelProtocol.NONE)
        .setTrustDomain(w.trustDomain()).setServiceAccount(w.serviceAccount())
        .setNode(w.node()).setCanonicalName(w.canonicalName())
        .setCanonicalRevision(w.canonicalRevision()).setWorkloadType(WorkloadType.POD)
        .setWorkloadName(w.workloadName())
        .setStatus(w.healthy() ? WorkloadStatus.HEALTHY : WorkloadStatus.UNHEALTHY)
        .putAllServices(services)
        .addAllAuthorizationPolicies(policies);
    w.addresses().forEach(a -> b.addAddresses(ByteString.copyFrom(a.getAddress())));
    if (w.waypoint() != null) {
      b.setWaypoint(gateway(w.waypoint()));
    }
    b.addExtensions(ext(EXT_WORKLOAD,
        WorkloadDetails.newBuilder().putAllLabels(new TreeMap<>(w.labels()))
            .putAllAnnotations(new TreeMap<>(w.annotations())).build()));
    return b.build();
  }

  private static dev.ambientj.config.proto.workload.Service.Builder service(Service s) {
    var b = dev.ambientj.config.proto.workload.Service.newBuilder()
        .setName(s.name()).setNamespace(s.namespace()).setHostname(s.hostname());
    s.vips().forEach(v -> b.addAddresses(
        NetworkAddress.newBuilder().setAddress(ByteString.copyFrom(v.getAddress()))));
    ServiceDetails.Builder details = ServiceDetails.newBuilder();
    for (ServicePort p : s.ports()) {
      b.addPorts(Port.newBuilder().setServicePort(p.port()).setTargetPort(p.targetPort())
          .setAppProtocol(appProtocol(p.appProtocol())));
      ServicePortDetails.Builder d = ServicePortDetails.newBuilder().setPort(p.port())
          .setName(p.name()).setTargetPort(p.targetPort());
      if (p.appProtocol() != null) {
        d.setAppProtocol(p.appProtocol());
      }
      details.addPorts(d);
    }
    if (s.waypoint() != null) {
      b.setWaypoint(gateway(s.waypoint()));
    }
    b.addExtensions(ext(EXT_SERVICE, details.build()));
    return b;
  }

  private static WaypointDetails waypoint(Waypoint wp, boolean synthetic) {
    WaypointDetails.Builder b = WaypointDetails.newBuilder().setName(wp.name())
        .setNamespace(wp.namespace()).setWaypointFor(wp.waypointFor())
        .setServiceAccount(wp.serviceAccount()).setTrustDomain(wp.trustDomain())
        .setSynthetic(synthetic);
    wp.addresses().forEach(a -> b.addAddresses(ByteString.copyFrom(a.getAddress())));
    return b.build();
  }

  static AppProtocol appProtocol(String p) {
    if (p == null) {
      return AppProtocol.UNKNOWN;
    }
    return switch (p.toLowerCase(Locale.ROOT)) {
      case "http", "http1", "http/1.1" -> AppProtocol.HTTP11;
      case "http2", "h2c", "kubernetes.io/h2c" -> AppProtocol.HTTP2;
      case "grpc", "grpc-web" -> AppProtocol.GRPC;
      case "tcp" -> AppProtocol.TCP;
      case "tls", "https" -> AppProtocol.TLS;
      default -> AppProtocol.UNKNOWN;
    };
  }

  // ---- AuthorizationPolicy → istio.security.Authorization ----

  /** The policy as ztunnel receives it, or null when ztunnel does not enforce it. */
  Authorization authorization(AuthorizationPolicy p) {
    var spec = p.getSpec();
    if (spec == null || AuthorizationEngine.isWaypointPolicy(p)) {
      return null;
    }
    AuthorizationPolicyAction a = spec.getAction() == null ? AuthorizationPolicyAction.ALLOW
        : spec.getAction();
    if (a != AuthorizationPolicyAction.ALLOW && a != AuthorizationPolicyAction.DENY) {
      return null;
    }
    String ns = p.getMetadata().getNamespace() == null ? rootNamespace
        : p.getMetadata().getNamespace();
    boolean selector = spec.getSelector() != null && spec.getSelector().getMatchLabels() != null
        && !spec.getSelector().getMatchLabels().isEmpty();
    Scope scope = selector ? Scope.WORKLOAD_SELECTOR
        : ns.equals(rootNamespace) ? Scope.GLOBAL : Scope.NAMESPACE;
    boolean deny = a == AuthorizationPolicyAction.DENY;
    Authorization.Builder b = Authorization.newBuilder().setName(p.getMetadata().getName())
        .setNamespace(ns).setScope(scope).setAction(deny ? Action.DENY : Action.ALLOW);
    if (spec.getRules() != null) {
      for (var r : spec.getRules()) {
        Rule rule = rule(r, deny);
        if (rule != null) {
          b.addRules(rule);
        }
      }
    }
    return b.build();
  }

  /** One rule, or null when ztunnel drops it (an ALLOW rule that uses L7 attributes). */
  private static Rule rule(io.fabric8.istio.api.api.security.v1beta1.Rule r, boolean deny) {
    boolean[] l7 = {false};
    Rule.Builder out = Rule.newBuilder();
    if (r.getFrom() != null && !r.getFrom().isEmpty()) {
      Clause.Builder c = Clause.newBuilder();
      boolean unconstrained = false;
      for (RuleFrom f : r.getFrom()) {
        Match m = f.getSource() == null ? Match.getDefaultInstance() : source(f.getSource(), l7);
        if (m.equals(Match.getDefaultInstance())) {
          unconstrained = true;
        }
        c.addMatches(m);
      }
      if (!unconstrained) {
        out.addClauses(c);
      }
    }
    if (r.getTo() != null && !r.getTo().isEmpty()) {
      Clause.Builder c = Clause.newBuilder();
      boolean unconstrained = false;
      for (RuleTo t : r.getTo()) {
        Match m = t.getOperation() == null ? Match.getDefaultInstance()
            : operation(t.getOperation(), l7);
        if (m.equals(Match.getDefaultInstance())) {
          unconstrained = true;
        }
        c.addMatches(m);
      }
      if (!unconstrained) {
        out.addClauses(c);
      }
    }
    if (r.getWhen() != null) {
      for (Condition c : r.getWhen()) {
        Match m = condition(c, l7);
        if (!m.equals(Match.getDefaultInstance())) {
          out.addClauses(Clause.newBuilder().addMatches(m));
        }
      }
    }
    return l7[0] && !deny ? null : out.build();
  }

  private static Match source(Source s, boolean[] l7) {
    Match.Builder m = Match.newBuilder();
    strings(s.getPrincipals()).forEach(m::addPrincipals);
    strings(s.getNotPrincipals()).forEach(m::addNotPrincipals);
    strings(s.getNamespaces()).forEach(m::addNamespaces);
    strings(s.getNotNamespaces()).forEach(m::addNotNamespaces);
    serviceAccounts(s.getServiceAccounts()).forEach(m::addServiceAccounts);
    serviceAccounts(s.getNotServiceAccounts()).forEach(m::addNotServiceAccounts);
    cidrs(s.getIpBlocks()).forEach(m::addSourceIps);
    cidrs(s.getRemoteIpBlocks()).forEach(m::addSourceIps);
    cidrs(s.getNotIpBlocks()).forEach(m::addNotSourceIps);
    cidrs(s.getNotRemoteIpBlocks()).forEach(m::addNotSourceIps);
    if (nonEmpty(s.getRequestPrincipals()) || nonEmpty(s.getNotRequestPrincipals())) {
      l7[0] = true;
    }
    return m.build();
  }

  private static Match operation(Operation o, boolean[] l7) {
    Match.Builder m = Match.newBuilder();
    ports(o.getPorts()).forEach(m::addDestinationPorts);
    ports(o.getNotPorts()).forEach(m::addNotDestinationPorts);
    if (nonEmpty(o.getHosts()) || nonEmpty(o.getNotHosts()) || nonEmpty(o.getMethods())
        || nonEmpty(o.getNotMethods()) || nonEmpty(o.getPaths()) || nonEmpty(o.getNotPaths())) {
      l7[0] = true;
    }
    return m.build();
  }

  private static Match condition(Condition c, boolean[] l7) {
    Match.Builder m = Match.newBuilder();
    String key = c.getKey() == null ? "" : c.getKey();
    switch (key) {
      case "source.ip", "remote.ip" -> {
        cidrs(c.getValues()).forEach(m::addSourceIps);
        cidrs(c.getNotValues()).forEach(m::addNotSourceIps);
      }
      case "destination.ip" -> {
        cidrs(c.getValues()).forEach(m::addDestinationIps);
        cidrs(c.getNotValues()).forEach(m::addNotDestinationIps);
      }
      case "destination.port" -> {
        ports(c.getValues()).forEach(m::addDestinationPorts);
        ports(c.getNotValues()).forEach(m::addNotDestinationPorts);
      }
      case "source.namespace" -> {
        strings(c.getValues()).forEach(m::addNamespaces);
        strings(c.getNotValues()).forEach(m::addNotNamespaces);
      }
      case "source.principal" -> {
        strings(c.getValues()).forEach(m::addPrincipals);
        strings(c.getNotValues()).forEach(m::addNotPrincipals);
      }
      case "source.serviceAccount" -> {
        serviceAccounts(c.getValues()).forEach(m::addServiceAccounts);
        serviceAccounts(c.getNotValues()).forEach(m::addNotServiceAccounts);
      }
      default -> {
        if (nonEmpty(c.getValues()) || nonEmpty(c.getNotValues())) {
          l7[0] = true;
        }
      }
    }
    return m.build();
  }

  private static boolean nonEmpty(List<?> l) {
    return l != null && !l.isEmpty();
  }

  /** Istio's string forms: {@code *} presence, {@code x*} prefix, {@code *x} suffix, else exact. */
  static List<StringMatch> strings(List<String> values) {
    if (values == null) {
      return List.of();
    }
    List<StringMatch> out = new ArrayList<>();
    for (String v : values) {
      if (v.equals("*")) {
        out.add(StringMatch.newBuilder().setPresence(Empty.getDefaultInstance()).build());
      } else if (v.endsWith("*")) {
        out.add(StringMatch.newBuilder().setPrefix(v.substring(0, v.length() - 1)).build());
      } else if (v.startsWith("*")) {
        out.add(StringMatch.newBuilder().setSuffix(v.substring(1)).build());
      } else {
        out.add(StringMatch.newBuilder().setExact(v).build());
      }
    }
    return out;
  }

  private static List<ServiceAccountMatch> serviceAccounts(List<String> values) {
    if (values == null) {
      return List.of();
    }
    List<ServiceAccountMatch> out = new ArrayList<>();
    for (String v : values) {
      int slash = v.indexOf('/');
      out.add(slash < 0 ? ServiceAccountMatch.newBuilder().setServiceAccount(v).build()
          : ServiceAccountMatch.newBuilder().setNamespace(v.substring(0, slash))
              .setServiceAccount(v.substring(slash + 1)).build());
    }
    return out;
  }

  private static List<Integer> ports(List<String> values) {
    if (values == null) {
      return List.of();
    }
    List<Integer> out = new ArrayList<>();
    for (String v : values) {
      try {
        out.add(Integer.parseInt(v.strip()));
      } catch (NumberFormatException e) {
        // the translator's validation refuses such policies; nothing to send
      }
    }
    return out;
  }

  private static List<dev.ambientj.config.proto.security.Address> cidrs(List<String> values) {
    if (values == null) {
      return List.of();
    }
    List<dev.ambientj.config.proto.security.Address> out = new ArrayList<>();
    for (String v : values) {
      try {
        int slash = v.indexOf('/');
        InetAddress a = InetAddress.ofLiteral(slash < 0 ? v.strip() : v.substring(0, slash));
        int len = slash < 0 ? a.getAddress().length * 8 : Integer.parseInt(v.substring(slash + 1));
        out.add(dev.ambientj.config.proto.security.Address.newBuilder()
            .setAddress(ByteString.copyFrom(a.getAddress())).setLength(len).build());
      } catch (IllegalArgumentException e) {
        // unparsable values are refused by validation before a snapshot holds them
      }
    }
    return out;
  }
}
