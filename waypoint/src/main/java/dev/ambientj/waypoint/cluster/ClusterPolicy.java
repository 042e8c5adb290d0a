package dev.ambientj.waypoint.cluster;

/**
 * The traffic policy of one cluster (a service port, or a subset of it): a DestinationRule's
 * top-level {@code trafficPolicy} with the subset's overriding it field by field
 * ({@code loadBalancer}, {@code connectionPool}, {@code outlierDetection}).
 *
 * <p>Limits are Envoy circuit breakers per cluster: {@code maxConnections} upstream connections,
 * {@code http1MaxPendingRequests} requests waiting for one, {@code http2MaxRequests} requests in
 * flight, {@code maxRetries} retries in flight. Istio's defaults are all 2^32-1 (here
 * {@link Integer#MAX_VALUE}).
 */
public record ClusterPolicy(
    LbPolicy lb,
    int maxConnections,
    int http1MaxPendingRequests,
    int http2MaxRequests,
    int maxRequestsPerConnection,
    int maxRetries,
    OutlierPolicy outlier) {

  public static final int UNLIMITED = Integer.MAX_VALUE;

  public static final ClusterPolicy DEFAULT =
      new ClusterPolicy(LbPolicy.LEAST_REQUEST, UNLIMITED, UNLIMITED, UNLIMITED, 0, UNLIMITED, OutlierPolicy.DISABLED);
}
