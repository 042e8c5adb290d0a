package dev.ambientj.waypoint.route;

import java.util.List;

/** What a matched route does. */
public sealed interface RouteAction {

  /** Forward to one of weighted destinations. */
  record Forward(List<WeightedDestination> destinations, int totalWeight) implements RouteAction {
    public Forward {
      destinations = List.copyOf(destinations);
    }

    public Forward(List<WeightedDestination> destinations) {
      this(destinations, destinations.stream().mapToInt(WeightedDestination::weight).sum());
    }

    /** Picks by weight with {@code draw} uniform in [0, totalWeight). */
    public WeightedDestination pick(int draw) {
      if (destinations.size() == 1 || totalWeight <= 0) {
        return destinations.get(0);
      }
      int acc = 0;
      for (WeightedDestination d : destinations) {
        acc += d.weight();
        if (draw < acc) {
          return d;
        }
      }
      return destinations.get(destinations.size() - 1);
    }
  }

  /**
   * An HTTP redirect. Null fields keep the request's value.
   *
   * @param path the new path; with {@code replacePrefix} only the matched prefix is replaced
   * @param port 0 keeps the port
   */
  record Redirect(int status, String scheme, String host, int port, String path, boolean replacePrefix)
      implements RouteAction {}

  /** A fixed response. */
  record DirectResponse(int status, String body) implements RouteAction {}
}
