package dev.ambientj.waypoint.cluster;

import dev.ambientj.config.model.Endpoint;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Service;
import dev.ambientj.config.model.ServicePort;
import dev.ambientj.config.model.Workload;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Builds {@link Cluster}s for a snapshot and keeps what must outlive snapshots: per cluster the
 * circuit breaker and round-robin position, per cluster and workload the host's health
 * ({@link HostState}). Invariant: a cluster key always maps to the same state objects, so a config
 * push neither resets an ejection nor forgets requests in flight.
 */
public final class ClusterManager {
  private static final class State {
    final CircuitBreaker breaker;
    final Map<String, HostState> hosts = new ConcurrentHashMap<>();
    volatile LbPolicy lbPolicy;
    volatile LoadBalancer lb;

    State(ClusterPolicy p) {
      breaker = new CircuitBreaker(p);
      lbPolicy = p.lb();
      lb = LoadBalancer.of(p.lb());
    }
  }

  private final Map<ClusterKey, State> states = new ConcurrentHashMap<>();

  /**
   * The cluster of {@code service}'s {@code port}, narrowed to the workloads whose labels include
   * {@code subsetLabels} (null: all). Unhealthy workloads and workloads without an address are left out.
   */
  public Cluster build(MeshSnapshot snapshot, Service service, ServicePort port, String subset,
      Map<String, String> subsetLabels, ClusterPolicy policy) {
    ClusterKey key = new ClusterKey(service.hostname(), subset, port.port());
    State st = states.computeIfAbsent(key, k -> new State(policy));
    st.breaker.update(policy);
    if (st.lbPolicy != policy.lb()) {
      st.lbPolicy = policy.lb();
      st.lb = LoadBalancer.of(policy.lb());
    }
    List<UpstreamHost> hosts = new ArrayList<>();
    for (Endpoint e : service.endpoints()) {
      Workload w = snapshot.findWorkloadByUid(e.workloadUid()).orElse(null);
      if (w == null || !w.healthy() || w.addresses().isEmpty()) {
        continue;
      }
      if (subsetLabels != null && !w.labels().entrySet().containsAll(subsetLabels.entrySet())) {
        continue;
      }
      HostState hs = st.hosts.computeIfAbsent(w.uid(), u -> new HostState());
      hosts.add(new UpstreamHost(w, preferredAddress(w.addresses()), e.targetPortFor(port), hs));
    }
    return new Cluster(key, policy, hosts, st.lb, st.breaker);
  }

  private static InetAddress preferredAddress(List<InetAddress> addresses) {
    for (InetAddress a : addresses) {
      if (a instanceof Inet4Address) {
        return a;
      }
    }
    return addresses.get(0);
  }
}
