package dev.ambientj.config.xds;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.ambientj.config.MeshTranslator;
import dev.ambientj.config.MeshYaml;
import dev.ambientj.config.authz.AuthorizationEngine;
import dev.ambientj.config.model.ConfigRejection;
import dev.ambientj.config.model.Endpoint;
import dev.ambientj.config.model.LocalRateLimit;
import dev.ambientj.config.model.MeshSnapshot;
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
import dev.ambientj.config.proto.security.Scope;
import dev.ambientj.config.proto.security.ServiceAccountMatch;
import dev.ambientj.config.proto.security.StringMatch;
import dev.ambientj.config.proto.workload.Address;
import dev.ambientj.config.proto.workload.Extension;
import dev.ambientj.config.proto.workload.GatewayAddress;
import dev.ambientj.config.proto.workload.Port;
import dev.ambientj.config.proto.workload.PortList;
import dev.ambientj.config.proto.workload.WorkloadStatus;
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
import io.fabric8.istio.api.api.security.v1beta1.Rule;
import io.fabric8.istio.api.api.security.v1beta1.RuleFrom;
import io.fabric8.istio.api.api.security.v1beta1.RuleTo;
import io.fabric8.istio.api.api.security.v1beta1.Source;
import io.fabric8.istio.api.api.type.v1beta1.WorkloadSelector;
import io.fabric8.istio.api.networking.v1.DestinationRule;
import io.fabric8.istio.api.networking.v1.VirtualService;
import io.fabric8.istio.api.security.v1.AuthorizationPolicy;
import io.fabric8.istio.api.security.v1.PeerAuthentication;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Decodes a complete set of WDS resources ({@link WdsEncoder}'s, or istiod's) into a {@link
 * MeshSnapshot}.
 *
 * <p>Selector-scoped Authorization resources are applied the way ztunnel applies them: by the
 * keys the server listed in {@code Workload.authorization_policies}, not by labels. The decoder
 * expresses that with one synthetic label per policy ({@value #AUTHZ_LABEL_PREFIX}{@code
 * <ns>.<name>}) added to each listed workload and used as the decoded policy's selector, so the
 * {@link AuthorizationEngine} selects exactly the workloads the server chose.
 *
 * <p>Errors: the first resource that cannot be decoded fails the set with an {@link
 * XdsDecodeException} naming it (the loader then keeps that resource's previous version, NACKs
 * it, and decodes again). A Kubernetes object among the MeshObjects is validated by the {@link
 * MeshTranslator} as the server validates it. The server's {@code Rejection}s become the
 * snapshot's rejections. Stateless.
 */
public final class WdsDecoder {
  /** Prefix of the synthetic per-policy labels (never present on a real pod). */
  public static final String AUTHZ_LABEL_PREFIX = "authz.xds.ambientj.dev/";

  private final String rootNamespace;

  public WdsDecoder() {
    this(AuthorizationEngine.DEFAULT_ROOT_NAMESPACE);
  }

  public WdsDecoder(String rootNamespace) {
    this.rootNamespace = rootNamespace;
  }

  /** Builds a snapshot with {@code version} from every resource of {@code r}. */
  public MeshSnapshot decode(XdsResources r, long version) throws XdsDecodeException {
    List<Node> nodes = new ArrayList<>();
    for (Map.Entry<String, Any> e : r.of(TypeUrls.MESH_NODE).entrySet()) {
      MeshNode n = unpack(TypeUrls.MESH_NODE, e, MeshNode.class);
      nodes.add(new Node(n.getName(), addresses(TypeUrls.MESH_NODE, e.getKey(),
          n.getAddressesList())));
    }

    List<AuthorizationPolicy> policies = new ArrayList<>();

    List<dev.ambientj.config.proto.workload.Workload> wls = new ArrayList<>();
    List<Map.Entry<String, dev.ambientj.config.proto.workload.Service>> svcs = new ArrayList<>();
    for (Map.Entry<String, Any> e : r.of(TypeUrls.ADDRESS).entrySet()) {
      Address a = unpack(TypeUrls.ADDRESS, e, Address.class);
      switch (a.getTypeCase()) {
        case WORKLOAD -> wls.add(a.getWorkload());
        case SERVICE -> svcs.add(Map.entry(e.getKey(), a.getService()));
        default -> throw new XdsDecodeException(TypeUrls.ADDRESS, e.getKey(),
            "neither a workload nor a service");
      }
    }

    String trustDomain = MeshSnapshot.DEFAULT_TRUST_DOMAIN;
    boolean trustDomainSeen = false;
    List<Waypoint> waypoints = new ArrayList<>();
    for (var e : svcs) {
      WaypointDetails d = extension(e.getValue().getExtensionsList(), WdsEncoder.EXT_WAYPOINT,
          WaypointDetails.class, e.getKey());
      if (d != null) {
        waypoints.add(new Waypoint(d.getName(), d.getNamespace(), d.getWaypointFor(),
            addresses(TypeUrls.ADDRESS, e.getKey(), d.getAddressesList()), d.getServiceAccount(),
            d.getTrustDomain()));
      }
    }
    Map<InetAddress, WaypointRef> waypointByAddress = new HashMap<>();
    for (Waypoint wp : waypoints) {
      wp.addresses().forEach(a -> waypointByAddress.putIfAbsent(a, wp.ref()));
    }

    List<Workload> workloads = new ArrayList<>();
    for (var w : wls) {
      String name = w.getUid();
      if (name.isEmpty()) {
        throw new XdsDecodeException(TypeUrls.ADDRESS, "<workload>", "workload without uid");
      }
      if (!trustDomainSeen && !w.getTrustDomain().isEmpty()) {
        trustDomain = w.getTrustDomain(); // WDS has no mesh-wide field; the first workload's
        trustDomainSeen = true;
      }
      WorkloadDetails d = extension(w.getExtensionsList(), WdsEncoder.EXT_WORKLOAD,
          WorkloadDetails.class, name);
      Map<String, String> labels = new LinkedHashMap<>(
          d == null ? Map.of() : d.getLabelsMap());
      for (String key : w.getAuthorizationPoliciesList()) {
        labels.put(authzLabel(key), "true");
      }
      boolean hbone = w.getTunnelProtocol()
          == dev.ambientj.config.proto.workload.TunnelProtocol.HBONE;
      workloads.add(new Workload(w.getUid(), w.getName(), w.getNamespace(),
          w.getServiceAccount().isEmpty() ? "default" : w.getServiceAccount(),
          w.getTrustDomain().isEmpty() ? MeshSnapshot.DEFAULT_TRUST_DOMAIN : w.getTrustDomain(),
          w.getNode(), addresses(TypeUrls.ADDRESS, name, w.getAddressesList()), labels, hbone,
          hbone ? TunnelProtocol.HBONE : TunnelProtocol.NONE,
          w.hasWaypoint() ? waypointRef(w.getWaypoint(), name, waypointByAddress) : null,
          w.getStatus() == WorkloadStatus.HEALTHY, emptyToNull(w.getWorkloadName()),
          emptyToNull(w.getCanonicalName()), emptyToNull(w.getCanonicalRevision()),
          d == null ? Map.of() : d.getAnnotationsMap()));
    }

    List<Service> services = new ArrayList<>();
    for (var e : svcs) {
      var s = e.getValue();
      WaypointDetails wd = extension(s.getExtensionsList(), WdsEncoder.EXT_WAYPOINT,
          WaypointDetails.class, e.getKey());
      if (wd != null && wd.getSynthetic()) {
        continue;
      }
      services.add(service(e.getKey(), s, wls, waypointByAddress));
    }
    List<VirtualService> vss = new ArrayList<>();
    List<DestinationRule> drs = new ArrayList<>();
    List<PeerAuthentication> pas = new ArrayList<>();
    List<HTTPRoute> hrs = new ArrayList<>();
    List<GRPCRoute> grs = new ArrayList<>();
    List<LocalRateLimit> lrls = new ArrayList<>();
    List<io.fabric8.istio.api.telemetry.v1.Telemetry> telemetries = new ArrayList<>();
    for (Map.Entry<String, Any> e : r.of(TypeUrls.MESH_OBJECT).entrySet()) {
      MeshObject m = unpack(TypeUrls.MESH_OBJECT, e, MeshObject.class);
      switch (m.getObjectCase()) {
        case LOCAL_RATE_LIMIT -> {
          var l = m.getLocalRateLimit();
          lrls.add(new LocalRateLimit(l.getName(), l.getNamespace(), l.getWorkloadSelectorMap(),
              l.getMaxTokens(), l.getTokensPerFill(), Duration.ofNanos(l.getFillIntervalNanos()),
              l.getStatPrefix()));
        }
        case KUBERNETES -> {
          MeshYaml.Result parsed = MeshYaml.load(m.getKubernetes().getJson(), e.getKey());
          if (!parsed.errors().isEmpty() || parsed.objects().size() != 1) {
            throw new XdsDecodeException(TypeUrls.MESH_OBJECT, e.getKey(), "not one object: "
                + parsed.errors());
          }
          // Checked as the server's translator checks it: a server of another version (or one
          // that skipped a check) must not make this proxy apply what it would refuse itself.
          List<ConfigRejection> refused =
              new MeshTranslator().translate(parsed.objects()).rejections();
          if (!refused.isEmpty()) {
            throw new XdsDecodeException(TypeUrls.MESH_OBJECT, e.getKey(),
                refused.get(0).toString());
          }
          switch (parsed.objects().get(0)) {
            case VirtualService o -> vss.add(o);
            case DestinationRule o -> drs.add(o);
            case PeerAuthentication o -> pas.add(o);
            case HTTPRoute o -> hrs.add(o);
            case GRPCRoute o -> grs.add(o);
            case AuthorizationPolicy o -> policies.add(o);
            case io.fabric8.istio.api.telemetry.v1.Telemetry o -> telemetries.add(o);
            default -> throw new XdsDecodeException(TypeUrls.MESH_OBJECT, e.getKey(),
                "kind " + parsed.objects().get(0).getKind() + " is not a mesh policy kind");
          }
        }
        default -> throw new XdsDecodeException(TypeUrls.MESH_OBJECT, e.getKey(), "empty object");
      }
    }
    // An AuthorizationPolicy sent whole (to waypoints) wins over its L4-only Authorization form.
    java.util.Set<String> whole = new java.util.HashSet<>();
    policies.forEach(p -> whole.add(p.getMetadata().getNamespace() + "/"
        + p.getMetadata().getName()));
    for (Map.Entry<String, Any> e : r.of(TypeUrls.AUTHORIZATION).entrySet()) {
      Authorization a = unpack(TypeUrls.AUTHORIZATION, e, Authorization.class);
      if (!whole.contains(a.getNamespace() + "/" + a.getName())) {
        policies.add(policy(e.getKey(), a));
      }
    }
    PolicyObjects objects = new PolicyObjects(vss, drs, policies, pas, hrs, grs, lrls, List.of(),
        telemetries);
    List<ConfigRejection> rejections = new ArrayList<>();
    for (Map.Entry<String, Any> e : r.of(TypeUrls.REJECTION).entrySet()) {
      Rejection x = unpack(TypeUrls.REJECTION, e, Rejection.class);
      rejections.add(new ConfigRejection(x.getKind(), x.getNamespace(), x.getName(),
          x.getField(), x.getProblem(), x.getLocation(), x.getPreviousInForce()));
    }
    return MeshSnapshot.of(version, trustDomain, workloads, services, waypoints, nodes, objects,
        rejections);
  }

  static String authzLabel(String policyKey) {
    return AUTHZ_LABEL_PREFIX + policyKey.replace('/', '.');
  }

  private Service service(String key, dev.ambientj.config.proto.workload.Service s,
      List<dev.ambientj.config.proto.workload.Workload> wls,
      Map<InetAddress, WaypointRef> waypointByAddress) throws XdsDecodeException {
    if (s.getHostname().isEmpty()) {
      throw new XdsDecodeException(TypeUrls.ADDRESS, key, "service without hostname");
    }
    List<InetAddress> vips = new ArrayList<>();
    for (var a : s.getAddressesList()) {
      vips.add(address(TypeUrls.ADDRESS, key, a.getAddress()));
    }
    ServiceDetails details = extension(s.getExtensionsList(), WdsEncoder.EXT_SERVICE,
        ServiceDetails.class, key);
    List<ServicePort> ports = new ArrayList<>();
    if (details != null) {
      for (ServicePortDetails p : details.getPortsList()) {
        ports.add(new ServicePort(p.getName(), p.getPort(), p.getTargetPort(),
            p.hasAppProtocol() ? p.getAppProtocol() : null));
      }
    } else {
      for (Port p : s.getPortsList()) {
        ports.add(new ServicePort("", p.getServicePort(), p.getTargetPort(),
            appProtocol(p.getAppProtocol())));
      }
    }
    String ref = s.getNamespace() + "/" + s.getHostname();
    List<Endpoint> endpoints = new ArrayList<>();
    for (var w : wls) {
      PortList pl = w.getServicesMap().get(ref);
      if (pl == null) {
        continue;
      }
      Map<Integer, Integer> named = new HashMap<>();
      for (Port p : pl.getPortsList()) {
        for (ServicePort sp : ports) {
          if (sp.port() == p.getServicePort() && sp.targetPort() == 0 && p.getTargetPort() != 0) {
            named.put(p.getServicePort(), p.getTargetPort());
          }
        }
      }
      endpoints.add(new Endpoint(w.getUid(), named));
    }
    return new Service(s.getName(), s.getNamespace(), s.getHostname(), vips, ports, endpoints,
        s.hasWaypoint() ? waypointRef(s.getWaypoint(), key, waypointByAddress) : null);
  }

  private static String appProtocol(dev.ambientj.config.proto.workload.AppProtocol p) {
    return switch (p) {
      case HTTP11 -> "http";
      case HTTP2 -> "http2";
      case GRPC -> "grpc";
      case TCP -> "tcp";
      case TLS -> "tls";
      default -> null;
    };
  }

  private static WaypointRef waypointRef(GatewayAddress g, String resource,
      Map<InetAddress, WaypointRef> byAddress) throws XdsDecodeException {
    switch (g.getDestinationCase()) {
      case HOSTNAME -> {
        String host = g.getHostname().getHostname();
        int dot = host.indexOf('.');
        return new WaypointRef(g.getHostname().getNamespace(),
            dot < 0 ? host : host.substring(0, dot));
      }
      case ADDRESS -> {
        WaypointRef ref = byAddress.get(address(TypeUrls.ADDRESS, resource,
            g.getAddress().getAddress()));
        if (ref == null) {
          throw new XdsDecodeException(TypeUrls.ADDRESS, resource,
              "waypoint address is not the address of a known waypoint");
        }
        return ref;
      }
      default -> throw new XdsDecodeException(TypeUrls.ADDRESS, resource,
          "waypoint without hostname or address");
    }
  }

  private static String emptyToNull(String s) {
    return s.isEmpty() ? null : s;
  }

  private static <T extends com.google.protobuf.Message> T unpack(String type,
      Map.Entry<String, Any> e, Class<T> cls) throws XdsDecodeException {
    if (!e.getValue().getTypeUrl().equals(type)) {
      throw new XdsDecodeException(type, e.getKey(),
          "carries " + e.getValue().getTypeUrl() + " (expected " + type + ")");
    }
    try {
      return e.getValue().unpack(cls);
    } catch (InvalidProtocolBufferException ex) {
      throw new XdsDecodeException(type, e.getKey(), "malformed: " + ex.getMessage());
    }
  }

  private static <T extends com.google.protobuf.Message> T extension(List<Extension> exts,
      String name, Class<T> cls, String resource) throws XdsDecodeException {
    for (Extension x : exts) {
      if (x.getName().equals(name)) {
        try {
          return x.getConfig().unpack(cls);
        } catch (InvalidProtocolBufferException ex) {
          throw new XdsDecodeException(TypeUrls.ADDRESS, resource,
              "extension " + name + " is malformed: " + ex.getMessage());
        }
      }
    }
    return null;
  }

  private static List<InetAddress> addresses(String type, String resource, List<ByteString> bs)
      throws XdsDecodeException {
    List<InetAddress> out = new ArrayList<>(bs.size());
    for (ByteString b : bs) {
      out.add(address(type, resource, b));
    }
    return out;
  }

  private static InetAddress address(String type, String resource, ByteString b)
      throws XdsDecodeException {
    if (b.size() != 4 && b.size() != 16) {
      throw new XdsDecodeException(type, resource,
          "address of " + b.size() + " bytes (expected 4 or 16)");
    }
    try {
      return InetAddress.getByAddress(b.toByteArray());
    } catch (UnknownHostException e) {
      throw new XdsDecodeException(type, resource, e.getMessage());
    }
  }

  // ---- istio.security.Authorization → AuthorizationPolicy ----

  private AuthorizationPolicy policy(String key, Authorization a) throws XdsDecodeException {
    if (a.getName().isEmpty()) {
      throw new XdsDecodeException(TypeUrls.AUTHORIZATION, key, "policy without name");
    }
    var spec = new io.fabric8.istio.api.api.security.v1beta1.AuthorizationPolicy();
    spec.setAction(a.getAction() == Action.DENY ? AuthorizationPolicyAction.DENY
        : AuthorizationPolicyAction.ALLOW);
    String ns = switch (a.getScope()) {
      case GLOBAL -> rootNamespace;
      case NAMESPACE, WORKLOAD_SELECTOR -> a.getNamespace();
      default -> throw new XdsDecodeException(TypeUrls.AUTHORIZATION, key,
          "unknown scope " + a.getScopeValue());
    };
    if (a.getScope() == Scope.WORKLOAD_SELECTOR) {
      WorkloadSelector sel = new WorkloadSelector();
      sel.setMatchLabels(Map.of(authzLabel(a.getNamespace() + "/" + a.getName()), "true"));
      spec.setSelector(sel);
    }
    List<Rule> rules = new ArrayList<>();
    for (int i = 0; i < a.getRulesCount(); i++) {
      rules.add(rule(key, "rules[" + i + "]", a.getRules(i)));
    }
    spec.setRules(rules);
    AuthorizationPolicy p = new AuthorizationPolicy();
    p.setApiVersion("security.istio.io/v1");
    p.setKind("AuthorizationPolicy");
    ObjectMeta m = new ObjectMeta();
    m.setNamespace(ns);
    m.setName(a.getName());
    p.setMetadata(m);
    p.setSpec(spec);
    return p;
  }

  /**
   * One rule: a clause of source-only matches becomes {@code from}, one of port-only matches
   * {@code to}, a clause of a single match {@code when} conditions; anything else (an OR across
   * attributes of different kinds) has no AuthorizationPolicy form and is refused.
   */
  private static Rule rule(String key, String field, dev.ambientj.config.proto.security.Rule r)
      throws XdsDecodeException {
    Rule out = new Rule();
    List<Condition> when = new ArrayList<>();
    for (int i = 0; i < r.getClausesCount(); i++) {
      Clause c = r.getClauses(i);
      if (c.getMatchesCount() == 0) {
        throw new XdsDecodeException(TypeUrls.AUTHORIZATION, key,
            field + ".clauses[" + i + "]: a clause without matches");
      }
      boolean sourceOnly = true;
      boolean portsOnly = true;
      for (Match m : c.getMatchesList()) {
        if (m.getExtensionsCount() > 0) {
          throw new XdsDecodeException(TypeUrls.AUTHORIZATION, key,
              field + ".clauses[" + i + "]: match extensions are not supported");
        }
        boolean dst = m.getDestinationIpsCount() + m.getNotDestinationIpsCount()
            + m.getDestinationPortsCount() + m.getNotDestinationPortsCount() > 0;
        boolean src = m.getNamespacesCount() + m.getNotNamespacesCount()
            + m.getPrincipalsCount() + m.getNotPrincipalsCount() + m.getSourceIpsCount()
            + m.getNotSourceIpsCount() + m.getServiceAccountsCount()
            + m.getNotServiceAccountsCount() > 0;
        sourceOnly &= !dst;
        portsOnly &= !src && m.getDestinationIpsCount() + m.getNotDestinationIpsCount() == 0;
      }
      if (sourceOnly && isEmpty(out.getFrom())) {
        List<RuleFrom> from = new ArrayList<>();
        for (Match m : c.getMatchesList()) {
          from.add(new RuleFrom(source(m)));
        }
        out.setFrom(from);
      } else if (portsOnly && isEmpty(out.getTo())) {
        List<RuleTo> to = new ArrayList<>();
        for (Match m : c.getMatchesList()) {
          Operation o = new Operation();
          o.setPorts(ports(m.getDestinationPortsList()));
          o.setNotPorts(ports(m.getNotDestinationPortsList()));
          to.add(new RuleTo(o));
        }
        out.setTo(to);
      } else if (c.getMatchesCount() == 1) {
        Match m = c.getMatches(0);
        condition(when, "source.namespace", strings(m.getNamespacesList()),
            strings(m.getNotNamespacesList()));
        condition(when, "source.principal", strings(m.getPrincipalsList()),
            strings(m.getNotPrincipalsList()));
        condition(when, "source.serviceAccount", serviceAccounts(m.getServiceAccountsList()),
            serviceAccounts(m.getNotServiceAccountsList()));
        condition(when, "source.ip", cidrs(key, m.getSourceIpsList()),
            cidrs(key, m.getNotSourceIpsList()));
        condition(when, "destination.ip", cidrs(key, m.getDestinationIpsList()),
            cidrs(key, m.getNotDestinationIpsList()));
        condition(when, "destination.port", ports(m.getDestinationPortsList()),
            ports(m.getNotDestinationPortsList()));
      } else {
        throw new XdsDecodeException(TypeUrls.AUTHORIZATION, key, field + ".clauses[" + i
            + "]: an OR of matches on different attributes has no AuthorizationPolicy form");
      }
    }
    if (!when.isEmpty()) {
      out.setWhen(when);
    }
    return out;
  }

  private static Source source(Match m) throws XdsDecodeException {
    Source s = new Source();
    s.setNamespaces(strings(m.getNamespacesList()));
    s.setNotNamespaces(strings(m.getNotNamespacesList()));
    s.setPrincipals(strings(m.getPrincipalsList()));
    s.setNotPrincipals(strings(m.getNotPrincipalsList()));
    s.setServiceAccounts(serviceAccounts(m.getServiceAccountsList()));
    s.setNotServiceAccounts(serviceAccounts(m.getNotServiceAccountsList()));
    s.setIpBlocks(cidrs("", m.getSourceIpsList()));
    s.setNotIpBlocks(cidrs("", m.getNotSourceIpsList()));
    return s;
  }

  private static void condition(List<Condition> when, String key, List<String> values,
      List<String> notValues) {
    if (!values.isEmpty() || !notValues.isEmpty()) {
      Condition c = new Condition();
      c.setKey(key);
      c.setValues(values);
      c.setNotValues(notValues);
      when.add(c);
    }
  }

  private static List<String> strings(List<StringMatch> ms) {
    List<String> out = new ArrayList<>();
    for (StringMatch m : ms) {
      out.add(switch (m.getMatchTypeCase()) {
        case EXACT -> m.getExact();
        case PREFIX -> m.getPrefix() + "*";
        case SUFFIX -> "*" + m.getSuffix();
        default -> "*";
      });
    }
    return out;
  }

  private static List<String> serviceAccounts(List<ServiceAccountMatch> ms) {
    List<String> out = new ArrayList<>();
    for (ServiceAccountMatch m : ms) {
      out.add(m.getNamespace().isEmpty() ? m.getServiceAccount()
          : m.getNamespace() + "/" + m.getServiceAccount());
    }
    return out;
  }

  private static List<String> ports(List<Integer> ps) {
    List<String> out = new ArrayList<>();
    ps.forEach(p -> out.add(Integer.toString(p)));
    return out;
  }

  private static List<String> cidrs(String key,
      List<dev.ambientj.config.proto.security.Address> as) throws XdsDecodeException {
    List<String> out = new ArrayList<>();
    for (var a : as) {
      InetAddress ip = address(TypeUrls.AUTHORIZATION, key, a.getAddress());
      int bits = a.getAddress().size() * 8;
      if (a.getLength() > bits) {
        throw new XdsDecodeException(TypeUrls.AUTHORIZATION, key,
            "CIDR length " + a.getLength() + " (expected 0.." + bits + ")");
      }
      out.add(ip.getHostAddress() + "/" + a.getLength());
    }
    return out;
  }

  private static boolean isEmpty(List<?> l) {
    return l == null || l.isEmpty();
  }
}
