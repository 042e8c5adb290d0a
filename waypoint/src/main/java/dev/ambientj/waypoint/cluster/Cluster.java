package dev.ambientj.waypoint.cluster;

import java.util.ArrayList;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * One upstream cluster of one snapshot: the endpoints of a service port (optionally narrowed to a
 * subset), its policy, and the state that outlives snapshots (circuit breakers, host health,
 * round-robin position).
 */
public final class Cluster {
  private final ClusterKey key;
  private final ClusterPolicy policy;
  private final List<UpstreamHost> hosts;
  private final LoadBalancer lb;
  private final CircuitBreaker breaker;

  Cluster(ClusterKey key, ClusterPolicy policy, List<UpstreamHost> hosts, LoadBalancer lb, CircuitBreaker breaker) {
    this.key = key;
    this.policy = policy;
    this.hosts = List.copyOf(hosts);
    this.lb = lb;
    this.breaker = breaker;
  }

  public ClusterKey key() {
    return key;
  }

  public ClusterPolicy policy() {
    return policy;
  }

  public List<UpstreamHost> hosts() {
    return hosts;
  }

  public CircuitBreaker breaker() {
    return breaker;
  }

  /**
   * The hosts the load balancer may use now: the ones not ejected, or all of them when fewer
   * than {@code minHealthPercent} are healthy (panic).
   */
  public List<UpstreamHost> availableHosts(long now) {
    int ejected = 0;
    for (UpstreamHost h : hosts) {
      if (h.state.isEjected(now)) {
        ejected++;
      }
    }
    if (ejected == 0) {
      return hosts;
    }
    int min = policy.outlier().minHealthPercent();
    int healthy = hosts.size() - ejected;
    if (min > 0 && healthy * 100.0 / hosts.size() < min) {
      return hosts;
    }
    List<UpstreamHost> out = new ArrayList<>(healthy);
    for (UpstreamHost h : hosts) {
      if (!h.state.isEjected(now)) {
        out.add(h);
      }
    }
    return out;
  }

  /** Picks a host, or null when none is available (503, flag {@code UH}). */
  public UpstreamHost pick(long now, RandomGenerator random) {
    List<UpstreamHost> available = availableHosts(now);
    return available.isEmpty() ? null : lb.pick(available, random);
  }

  /** Records a try's outcome for outlier detection; true if the host was just ejected. */
  public boolean recordOutcome(UpstreamHost host, int status, boolean localFailure, long now) {
    return OutlierDetector.record(this, host, status, localFailure, now);
  }

  /** Whether {@code host} is ejected at {@code now}. */
  public boolean isEjected(UpstreamHost host, long now) {
    return host.state.isEjected(now);
  }

  @Override
  public String toString() {
    return key.toString();
  }
}
