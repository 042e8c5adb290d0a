package dev.ambientj.config.model;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * One immutable view of the mesh: what the data path reads, once per connection or request.
 *
 * <p>Invariants:
 *
 * <ul>
 *   <li>Built once (by the translator or {@link #of}), never mutated; every index is computed in
 *       the constructor, so a {@code find…} is a hash lookup, never a scan.
 *   <li>A workload address maps to one workload: when two pods claim an address (host-network pods
 *       share their node's), the enrolled one wins, then the first in input order.
 *   <li>A VIP maps to one service (the first in input order); hostnames are {@code
 *       <name>.<namespace>.svc.cluster.local}, matched case-insensitively.
 *   <li>The Fabric8 objects in {@link #policies()} must be treated as read-only.
 * </ul>
 */
public final class MeshSnapshot {
  /** The DNS suffix of Service hostnames. */
  public static final String CLUSTER_DOMAIN = "cluster.local";

  public static final String DEFAULT_TRUST_DOMAIN = "cluster.local";

  private static final MeshSnapshot EMPTY =
      of(
          0,
          DEFAULT_TRUST_DOMAIN,
          List.of(),
          List.of(),
          List.of(),
          List.of(),
          PolicyObjects.empty(),
          List.of(),
          List.of());

  private final long version;
  private final String trustDomain;
  private final List<Workload> workloads;
  private final List<Service> services;
  private final List<Waypoint> waypoints;
  private final List<Node> nodes;
  private final PolicyObjects policies;
  private final List<ConfigRejection> rejections;
  private final List<ConfigWarning> warnings;

  private final Map<InetAddress, Workload> workloadByAddress;
  private final Map<String, Workload> workloadByUid;
  private final Map<InetAddress, Service> serviceByVip;
  private final Map<String, Service> serviceByHostname;
  private final Map<String, List<Workload>> workloadsByNode;
  private final Map<WaypointRef, Waypoint> waypointByRef;
  private final Map<InetAddress, Waypoint> waypointByAddress;
  private final Map<String, List<Service>> servicesByWorkload;
  private final Map<String, Node> nodeByName;

  private MeshSnapshot(
      long version,
      String trustDomain,
      List<Workload> workloads,
      List<Service> services,
      List<Waypoint> waypoints,
      List<Node> nodes,
      PolicyObjects policies,
      List<ConfigRejection> rejections,
      List<ConfigWarning> warnings) {
    this.version = version;
    this.trustDomain = Objects.requireNonNull(trustDomain, "trustDomain");
    this.workloads = List.copyOf(workloads);
    this.services = List.copyOf(services);
    this.waypoints = List.copyOf(waypoints);
    this.nodes = List.copyOf(nodes);
    this.policies = Objects.requireNonNull(policies, "policies");
    this.rejections = List.copyOf(rejections);
    this.warnings = List.copyOf(warnings);

    Map<InetAddress, Workload> byAddress = new HashMap<>();
    Map<String, Workload> byUid = new HashMap<>();
    Map<String, List<Workload>> byNode = new LinkedHashMap<>();
    for (Workload w : this.workloads) {
      byUid.putIfAbsent(w.uid(), w);
      for (InetAddress a : w.addresses()) {
        Workload existing = byAddress.get(a);
        if (existing == null || (!existing.enrolled() && w.enrolled())) {
          byAddress.put(a, w);
        }
      }
      if (!w.node().isEmpty()) {
        byNode.computeIfAbsent(w.node(), n -> new ArrayList<>()).add(w);
      }
    }
    Map<InetAddress, Service> byVip = new HashMap<>();
    Map<String, Service> byHostname = new HashMap<>();
    Map<String, List<Service>> byWorkload = new HashMap<>();
    for (Service s : this.services) {
      for (InetAddress vip : s.vips()) {
        byVip.putIfAbsent(vip, s);
      }
      byHostname.putIfAbsent(s.hostname().toLowerCase(Locale.ROOT), s);
      for (Endpoint e : s.endpoints()) {
        byWorkload.computeIfAbsent(e.workloadUid(), u -> new ArrayList<>()).add(s);
      }
    }
    Map<WaypointRef, Waypoint> byRef = new HashMap<>();
    Map<InetAddress, Waypoint> wpByAddress = new HashMap<>();
    for (Waypoint wp : this.waypoints) {
      byRef.putIfAbsent(wp.ref(), wp);
      for (InetAddress a : wp.addresses()) {
        wpByAddress.putIfAbsent(a, wp);
      }
    }
    Map<String, Node> nodesByName = new HashMap<>();
    for (Node n : this.nodes) {
      nodesByName.putIfAbsent(n.name(), n);
    }
    this.workloadByAddress = Map.copyOf(byAddress);
    this.workloadByUid = Map.copyOf(byUid);
    this.workloadsByNode = copyOfLists(byNode);
    this.serviceByVip = Map.copyOf(byVip);
    this.serviceByHostname = Map.copyOf(byHostname);
    this.servicesByWorkload = copyOfLists(byWorkload);
    this.waypointByRef = Map.copyOf(byRef);
    this.waypointByAddress = Map.copyOf(wpByAddress);
    this.nodeByName = Map.copyOf(nodesByName);
  }

  /** Builds a snapshot and its indexes; the lists are copied. */
  public static MeshSnapshot of(
      long version,
      String trustDomain,
      List<Workload> workloads,
      List<Service> services,
      List<Waypoint> waypoints,
      List<Node> nodes,
      PolicyObjects policies,
      List<ConfigRejection> rejections) {
    return of(version, trustDomain, workloads, services, waypoints, nodes, policies, rejections,
        List.of());
  }

  /** As {@link #of(long, String, List, List, List, List, PolicyObjects, List)}, with warnings. */
  public static MeshSnapshot of(
      long version,
      String trustDomain,
      List<Workload> workloads,
      List<Service> services,
      List<Waypoint> waypoints,
      List<Node> nodes,
      PolicyObjects policies,
      List<ConfigRejection> rejections,
      List<ConfigWarning> warnings) {
    return new MeshSnapshot(
        version, trustDomain, workloads, services, waypoints, nodes, policies, rejections,
        warnings);
  }

  /** The same configuration with {@code more} rejections after its own (e.g. a proxy's NACKs). */
  public MeshSnapshot withMoreRejections(List<ConfigRejection> more) {
    if (more.isEmpty()) {
      return this;
    }
    List<ConfigRejection> all = new ArrayList<>(rejections);
    all.addAll(more);
    return new MeshSnapshot(
        version, trustDomain, workloads, services, waypoints, nodes, policies, all, warnings);
  }

  /** The snapshot before any configuration: version 0, nothing in it. */
  public static MeshSnapshot empty() {
    return EMPTY;
  }

  private static <K, V> Map<K, List<V>> copyOfLists(Map<K, List<V>> m) {
    Map<K, List<V>> out = new HashMap<>();
    m.forEach((k, v) -> out.put(k, List.copyOf(v)));
    return Map.copyOf(out);
  }

  /** Increases with every snapshot a process builds; 0 for {@link #empty()}. */
  public long version() {
    return version;
  }

  public String trustDomain() {
    return trustDomain;
  }

  public List<Workload> workloads() {
    return workloads;
  }

  public List<Service> services() {
    return services;
  }

  public List<Waypoint> waypoints() {
    return waypoints;
  }

  public List<Node> nodes() {
    return nodes;
  }

  /** VirtualServices, DestinationRules, AuthorizationPolicies… in typed form (read-only). */
  public PolicyObjects policies() {
    return policies;
  }

  /**
   * What was refused (objects, documents, files, xDS resources), each with its operator-facing
   * reason; what was in force before stays in force in its place.
   */
  public List<ConfigRejection> rejections() {
    return rejections;
  }

  /** What was ignored in accepted objects (unknown fields of kinds that are not strict). */
  public List<ConfigWarning> warnings() {
    return warnings;
  }

  public Optional<Workload> findWorkloadByAddress(InetAddress address) {
    return Optional.ofNullable(workloadByAddress.get(address));
  }

  public Optional<Workload> findWorkloadByUid(String uid) {
    return Optional.ofNullable(workloadByUid.get(uid));
  }

  public Optional<Service> findServiceByVip(InetAddress vip) {
    return Optional.ofNullable(serviceByVip.get(vip));
  }

  /**
   * Finds a service by the host a client used: {@code name.ns.svc.cluster.local}, {@code
   * name.ns.svc}, {@code name.ns}, or {@code name} (resolved in {@code clientNamespace}), as
   * Kubernetes DNS search paths do. A trailing dot and letter case are ignored.
   */
  public Optional<Service> findServiceByHostname(String host, String clientNamespace) {
    String fqdn = qualify(host, clientNamespace);
    return fqdn == null ? Optional.empty() : Optional.ofNullable(serviceByHostname.get(fqdn));
  }

  /**
   * The fully qualified form of a Service host ({@code name.ns.svc.cluster.local}), or null when
   * the host has a form no Service hostname can have (e.g. an external name such as {@code
   * example.com} is returned as is).
   */
  public static String qualify(String host, String clientNamespace) {
    if (host == null || host.isEmpty()) {
      return null;
    }
    String h = host.toLowerCase(Locale.ROOT);
    if (h.endsWith(".")) {
      h = h.substring(0, h.length() - 1);
    }
    String[] parts = h.split("\\.", -1);
    if (parts.length == 1) {
      return clientNamespace == null || clientNamespace.isEmpty()
          ? null
          : h + "." + clientNamespace + ".svc." + CLUSTER_DOMAIN;
    }
    if (parts.length == 2) {
      return h + ".svc." + CLUSTER_DOMAIN;
    }
    if (parts.length == 3 && parts[2].equals("svc")) {
      return h + "." + CLUSTER_DOMAIN;
    }
    return h;
  }

  /** The workloads scheduled on {@code node}, in input order. */
  public List<Workload> findWorkloadsOnNode(String node) {
    return workloadsByNode.getOrDefault(node, List.of());
  }

  public Optional<Waypoint> findWaypoint(WaypointRef ref) {
    return ref == null ? Optional.empty() : Optional.ofNullable(waypointByRef.get(ref));
  }

  public Optional<Waypoint> findWaypointByAddress(InetAddress address) {
    return Optional.ofNullable(waypointByAddress.get(address));
  }

  /** The services that have the workload as an endpoint. */
  public List<Service> findServicesOfWorkload(String workloadUid) {
    return servicesByWorkload.getOrDefault(workloadUid, List.of());
  }

  public Optional<Node> findNode(String name) {
    return Optional.ofNullable(nodeByName.get(name));
  }

  @Override
  public String toString() {
    return "MeshSnapshot{version="
        + version
        + ", workloads="
        + workloads.size()
        + ", services="
        + services.size()
        + ", waypoints="
        + waypoints.size()
        + ", rejections="
        + rejections.size()
        + "}";
  }
}
