package dev.ambientj.ztunnel.fairness;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What one source workload may take of its node's ztunnel at once (see {@link WorkloadBudgets}).
 *
 * @param maxConnections outbound connections the workload may hold open through its outbound
 *     listeners (15001 capture and 15080 SOCKS5 together)
 * @param maxConnectionRate new outbound connections per second, with a burst of one second's
 *     worth
 * @param maxStreams HBONE CONNECT streams from the workload (as a remote source) that this
 *     ztunnel's 15008 listeners may carry at once, towards all its local workloads together
 */
public record WorkloadBudget(int maxConnections, int maxConnectionRate, int maxStreams) {

  /** Pod annotation overriding {@link #maxConnections()}. */
  public static final String MAX_CONNECTIONS = "ambientj.dev/max-connections";
  /** Pod annotation overriding {@link #maxConnectionRate()}. */
  public static final String MAX_CONNECTION_RATE = "ambientj.dev/max-connection-rate";
  /** Pod annotation overriding {@link #maxStreams()}. */
  public static final String MAX_STREAMS = "ambientj.dev/max-streams";

  /**
   * New connections per second a workload may open by default: above what one ztunnel core
   * accepts (1,000–4,000 a second in the bench), so it binds only a storm that would otherwise
   * take a whole core from the node's other workloads.
   */
  public static final int DEFAULT_CONNECTION_RATE = 2_000;

  public WorkloadBudget {
    atLeastOne("connections per workload", maxConnections);
    atLeastOne("connections per second per workload", maxConnectionRate);
    atLeastOne("HBONE streams per source workload", maxStreams);
  }

  /** The budget with a pod's overrides applied; what is wrong with them goes to {@code errors}. */
  public WorkloadBudget overriddenBy(Map<String, String> annotations, List<String> errors) {
    if (annotations.isEmpty()) {
      return this;
    }
    return new WorkloadBudget(
        override(annotations, MAX_CONNECTIONS, maxConnections, errors),
        override(annotations, MAX_CONNECTION_RATE, maxConnectionRate, errors),
        override(annotations, MAX_STREAMS, maxStreams, errors));
  }

  /** {@link #overriddenBy(Map, List)} for callers that only want the result. */
  public WorkloadBudget overriddenBy(Map<String, String> annotations) {
    return overriddenBy(annotations, new ArrayList<>());
  }

  private static int override(Map<String, String> annotations, String key, int fallback,
      List<String> errors) {
    String raw = annotations.get(key);
    if (raw == null) {
      return fallback;
    }
    try {
      int value = Integer.parseInt(raw.trim());
      if (value >= 1) {
        return value;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    errors.add("annotation " + key + ": '" + raw + "' (expected: a whole number >= 1); using "
        + fallback);
    return fallback;
  }

  private static void atLeastOne(String what, int n) {
    if (n < 1) {
      throw new IllegalArgumentException(what + " must be at least 1 (got " + n + ")");
    }
  }
}
