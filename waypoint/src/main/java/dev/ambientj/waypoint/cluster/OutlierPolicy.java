package dev.ambientj.waypoint.cluster;

import java.time.Duration;

/**
 * DestinationRule {@code outlierDetection}, with Istio's defaults for fields left out.
 *
 * @param consecutive5xx 0 disables
 * @param consecutiveGatewayErrors 0 disables
 * @param interval the sweep interval; here it paces how fast the ejection multiplier decays
 * @param baseEjectionTime multiplied by the host's ejection count
 * @param maxEjectionTime cap of one ejection (Envoy default 300 s)
 * @param maxEjectionPercent no more hosts than this are ejected, except that one host may always
 *     be ejected when none is (Envoy)
 * @param minHealthPercent Envoy's panic threshold: when fewer hosts than this are healthy, the
 *     load balancer ignores ejections (0 disables, Istio's default)
 */
public record OutlierPolicy(
    int consecutive5xx,
    int consecutiveGatewayErrors,
    Duration interval,
    Duration baseEjectionTime,
    Duration maxEjectionTime,
    int maxEjectionPercent,
    int minHealthPercent) {

  public static final Duration MAX_EJECTION_TIME = Duration.ofSeconds(300);

  /** Outlier detection off. */
  public static final OutlierPolicy DISABLED =
      new OutlierPolicy(0, 0, Duration.ofSeconds(10), Duration.ofSeconds(30), MAX_EJECTION_TIME, 10, 0);

  public boolean enabled() {
    return consecutive5xx > 0 || consecutiveGatewayErrors > 0;
  }
}
