package dev.ambientj.waypoint.route;

/**
 * One backend of a route.
 *
 * @param host the service's fully qualified hostname ({@code name.ns.svc.cluster.local})
 * @param subset the DestinationRule subset name, or null for all endpoints
 * @param port the service port; 0 means the port the request arrived on
 * @param weight relative weight
 * @param requestHeaders applied to requests sent to this destination
 * @param responseHeaders applied to responses from this destination
 */
public record WeightedDestination(
    String host, String subset, int port, int weight, HeaderOps requestHeaders, HeaderOps responseHeaders) {

  public WeightedDestination {
    requestHeaders = requestHeaders == null ? HeaderOps.NONE : requestHeaders;
    responseHeaders = responseHeaders == null ? HeaderOps.NONE : responseHeaders;
  }

  /** {@code host} or {@code host/subset}, for logs and metrics. */
  public String clusterName() {
    return subset == null ? host : host + "/" + subset;
  }
}
