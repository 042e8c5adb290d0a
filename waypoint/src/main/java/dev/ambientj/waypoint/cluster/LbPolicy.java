package dev.ambientj.waypoint.cluster;

/** DestinationRule {@code loadBalancer.simple}. Istio's default is LEAST_REQUEST. */
public enum LbPolicy {
  ROUND_ROBIN,
  LEAST_REQUEST,
  RANDOM
}
