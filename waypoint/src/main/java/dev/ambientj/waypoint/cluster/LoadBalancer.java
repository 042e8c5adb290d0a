package dev.ambientj.waypoint.cluster;

import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.random.RandomGenerator;

/** Picks one host among the available ones. Implementations are thread-safe. */
public interface LoadBalancer {
  /** {@code hosts} is non-empty. */
  UpstreamHost pick(List<UpstreamHost> hosts, RandomGenerator random);

  static LoadBalancer of(LbPolicy policy) {
    return switch (policy) {
      case ROUND_ROBIN -> new RoundRobin();
      case RANDOM -> (hosts, random) -> hosts.get(random.nextInt(hosts.size()));
      case LEAST_REQUEST -> LoadBalancer::leastRequest;
    };
  }

  /**
   * Envoy's LEAST_REQUEST with equal weights: the better of two random choices (fewer active
   * requests), which avoids the herd a full scan would cause.
   */
  private static UpstreamHost leastRequest(List<UpstreamHost> hosts, RandomGenerator random) {
    if (hosts.size() == 1) {
      return hosts.get(0);
    }
    UpstreamHost a = hosts.get(random.nextInt(hosts.size()));
    UpstreamHost b = hosts.get(random.nextInt(hosts.size()));
    return b.activeRequests() < a.activeRequests() ? b : a;
  }

  /** Rotates through the hosts; the position is kept per cluster across picks. */
  final class RoundRobin implements LoadBalancer {
    private final AtomicInteger next = new AtomicInteger();

    @Override
    public UpstreamHost pick(List<UpstreamHost> hosts, RandomGenerator random) {
      return hosts.get(Math.floorMod(next.getAndIncrement(), hosts.size()));
    }
  }
}
