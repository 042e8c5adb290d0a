package dev.ambientj.waypoint.cluster;

/**
 * Consecutive-error outlier detection, as Envoy does for {@code consecutive_5xx} and
 * {@code consecutive_gateway_failure}:
 *
 * <ul>
 *   <li>Every response updates the host's counters: a 5xx (or a local failure — connect failure,
 *       reset, timeout — which Envoy maps to 503) increments the 5xx counter; 502/503/504 and local
 *       failures increment the gateway counter; anything else resets both.
 *   <li>When a counter reaches its threshold the host is ejected at once, unless that would exceed
 *       {@code maxEjectionPercent} — one host may always be ejected when none is.
 *   <li>An ejection lasts {@code baseEjectionTime × ejections}, capped at 300 s. The multiplier
 *       decays by one per {@code interval} the host spends back in service. The host returns when the
 *       time is up (checked when hosts are picked, not on a timer: the result is the same, up to
 *       Envoy's interval granularity).
 * </ul>
 */
final class OutlierDetector {
  private OutlierDetector() {}

  /**
   * Records a response status (or {@code 503} for a local failure, with {@code localFailure} set).
   * Returns true if this call ejected the host.
   */
  static boolean record(Cluster cluster, UpstreamHost host, int status, boolean localFailure, long now) {
    OutlierPolicy p = cluster.policy().outlier();
    if (!p.enabled()) {
      return false;
    }
    HostState s = host.state;
    boolean is5xx = localFailure || status >= 500;
    boolean isGateway = localFailure || status == 502 || status == 503 || status == 504;
    if (!is5xx) {
      s.consecutive5xx.set(0);
      s.consecutiveGateway.set(0);
      return false;
    }
    int c5 = s.consecutive5xx.incrementAndGet();
    int gw = 0;
    if (isGateway) {
      gw = s.consecutiveGateway.incrementAndGet();
    } else {
      s.consecutiveGateway.set(0);
    }
    boolean trip = (p.consecutive5xx() > 0 && c5 >= p.consecutive5xx())
        || (p.consecutiveGatewayErrors() > 0 && gw >= p.consecutiveGatewayErrors());
    if (!trip || s.isEjected(now)) {
      return false;
    }
    int total = cluster.hosts().size();
    int ejected = 0;
    for (UpstreamHost h : cluster.hosts()) {
      if (h.state.isEjected(now)) {
        ejected++;
      }
    }
    if (ejected > 0 && ejected * 100.0 / total >= p.maxEjectionPercent()) {
      return false;
    }
    eject(s, p, now);
    return true;
  }

  private static void eject(HostState s, OutlierPolicy p, long now) {
    long until = s.ejectedUntil.get();
    int count = s.ejections.get();
    if (until != Long.MIN_VALUE && count > 0) {
      long quiet = now - until;
      long decay = p.interval().toNanos() > 0 ? quiet / p.interval().toNanos() : 0;
      count = (int) Math.max(0, count - decay);
    }
    count++;
    s.ejections.set(count);
    long duration = Math.min(p.baseEjectionTime().toNanos() * count, p.maxEjectionTime().toNanos());
    s.ejectedUntil.set(now + duration);
    s.consecutive5xx.set(0);
    s.consecutiveGateway.set(0);
  }
}
