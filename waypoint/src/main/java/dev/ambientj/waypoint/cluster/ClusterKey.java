package dev.ambientj.waypoint.cluster;

/** Identifies a cluster as Istio names it: {@code outbound|port|subset|host}. */
public record ClusterKey(String host, String subset, int port) {
  @Override
  public String toString() {
    return "outbound|" + port + "|" + (subset == null ? "" : subset) + "|" + host;
  }
}
