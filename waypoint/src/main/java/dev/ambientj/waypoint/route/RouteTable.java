package dev.ambientj.waypoint.route;

import java.util.List;

/**
 * The ordered routes of one service: the first route with a matching alternative wins.
 *
 * @param source where the routes came from, e.g. {@code VirtualService production/payment-service},
 *     {@code HTTPRoute production/reviews}, or {@code default}
 */
public record RouteTable(String source, List<Route> routes) {
  public RouteTable {
    routes = List.copyOf(routes);
  }

  /** A route and the alternative that matched. */
  public record Selected(Route route, RequestMatch match) {}

  /** The first matching route, or null (Envoy: 404, flag NR). */
  public Selected find(RouteRequest request) {
    for (Route r : routes) {
      RequestMatch m = r.match(request);
      if (m != null) {
        return new Selected(r, m);
      }
    }
    return null;
  }
}
