package dev.ambientj.config.analyze;

import dev.ambientj.config.analyze.Finding.Level;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPMatchRequest;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPRoute;
import io.fabric8.istio.api.networking.v1.VirtualService;
import java.util.List;
import java.util.function.Consumer;

/**
 * A VirtualService's HTTP rules are tried in order and the first that matches wins, so:
 *
 * <ul>
 *   <li>IST0130 (VirtualServiceUnreachableRule): a rule after one that matches every request (no
 *       {@code match}, or a match with no condition) is never used;
 *   <li>IST0131 (VirtualServiceIneffectiveMatch): a match equal to one before it (in an earlier
 *       rule, or earlier in the same rule; its {@code name} aside) never decides anything.
 * </ul>
 */
final class RouteRules {
  private RouteRules() {}

  static void check(VirtualService vs, String ref, Consumer<Finding> out) {
    List<HTTPRoute> http = vs.getSpec().getHttp() == null ? List.of() : vs.getSpec().getHttp();
    for (int i = 0; i < http.size(); i++) {
      if (matchesEverything(http.get(i))) {
        for (int j = i + 1; j < http.size(); j++) {
          out.accept(new Finding(Level.WARNING, "IST0130", ref, "spec.http[" + j + "]",
              "never used: spec.http[" + i + "]" + named(http.get(i))
                  + " before it matches every request (expected a catch-all rule last)"));
        }
        return;
      }
      List<HTTPMatchRequest> matches = http.get(i).getMatch();
      for (int k = 0; k < matches.size(); k++) {
        String earlier = earlierEqual(http, i, k);
        if (earlier != null) {
          out.accept(new Finding(Level.INFO, "IST0131", ref,
              "spec.http[" + i + "].match[" + k + "]",
              "never decides: " + earlier + " before it is the same match"));
        }
      }
    }
  }

  private static boolean matchesEverything(HTTPRoute r) {
    if (r.getMatch() == null || r.getMatch().isEmpty()) {
      return true;
    }
    HTTPMatchRequest any = new HTTPMatchRequest();
    return r.getMatch().stream().anyMatch(m -> withoutName(m).equals(any));
  }

  private static String earlierEqual(List<HTTPRoute> http, int rule, int match) {
    HTTPMatchRequest m = withoutName(http.get(rule).getMatch().get(match));
    for (int i = 0; i <= rule; i++) {
      List<HTTPMatchRequest> ms = http.get(i).getMatch();
      int end = i == rule ? match : ms.size();
      for (int k = 0; k < end; k++) {
        if (withoutName(ms.get(k)).equals(m)) {
          return "spec.http[" + i + "].match[" + k + "]";
        }
      }
    }
    return null;
  }

  private static HTTPMatchRequest withoutName(HTTPMatchRequest m) {
    return m.getName() == null ? m : m.toBuilder().withName(null).build();
  }

  private static String named(HTTPRoute r) {
    return r.getName() == null ? "" : " (" + r.getName() + ")";
  }
}
