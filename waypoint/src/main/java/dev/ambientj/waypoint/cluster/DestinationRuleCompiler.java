package dev.ambientj.waypoint.cluster;

import dev.ambientj.config.model.GoDuration;
import dev.ambientj.config.model.MeshSnapshot;
import io.fabric8.istio.api.api.networking.v1alpha3.ConnectionPoolSettings;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettings;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettingsSimple;
import io.fabric8.istio.api.api.networking.v1alpha3.OutlierDetection;
import io.fabric8.istio.api.api.networking.v1alpha3.Subset;
import io.fabric8.istio.api.api.networking.v1alpha3.TrafficPolicy;
import io.fabric8.istio.api.networking.v1.DestinationRule;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/** Turns a DestinationRule into per-subset {@link ClusterPolicy}s and subset label selectors. */
public final class DestinationRuleCompiler {
  private DestinationRuleCompiler() {}

  /** The compiled DestinationRule of one host. */
  public record Compiled(String ref, ClusterPolicy policy, Map<String, Subset> subsets, Map<String, ClusterPolicy> subsetPolicies) {
    /** The policy of {@code subset} (null: the top level). */
    public ClusterPolicy policyFor(String subset) {
      return subset == null ? policy : subsetPolicies.getOrDefault(subset, policy);
    }

    /** The labels a subset selects, or null when no such subset is defined. */
    public Map<String, String> subsetLabels(String subset) {
      Subset s = subsets.get(subset);
      if (s == null) {
        return null;
      }
      return s.getLabels() == null ? Map.of() : s.getLabels();
    }
  }

  public static String ref(DestinationRule dr) {
    return "DestinationRule " + dr.getMetadata().getNamespace() + "/" + dr.getMetadata().getName();
  }

  /** The host the rule is for, qualified in its namespace. */
  public static String host(DestinationRule dr) {
    return dr.getSpec() == null || dr.getSpec().getHost() == null
        ? null
        : MeshSnapshot.qualify(dr.getSpec().getHost(), dr.getMetadata().getNamespace());
  }

  public static Compiled compile(DestinationRule dr, Consumer<String> problems) {
    TrafficPolicy top = dr.getSpec().getTrafficPolicy();
    ClusterPolicy base = merge(ClusterPolicy.DEFAULT, top, ref(dr) + ": spec.trafficPolicy", problems);
    Map<String, Subset> subsets = new HashMap<>();
    Map<String, ClusterPolicy> policies = new HashMap<>();
    List<Subset> list = dr.getSpec().getSubsets();
    if (list != null) {
      for (int i = 0; i < list.size(); i++) {
        Subset s = list.get(i);
        if (s.getName() == null) {
          continue;
        }
        subsets.put(s.getName(), s);
        if (s.getTrafficPolicy() != null) {
          policies.put(s.getName(),
              merge(base, s.getTrafficPolicy(), ref(dr) + ": spec.subsets[" + i + "].trafficPolicy", problems));
        }
      }
    }
    return new Compiled(ref(dr), base, Map.copyOf(subsets), Map.copyOf(policies));
  }

  /** {@code over}'s fields that are set replace {@code base}'s. */
  static ClusterPolicy merge(ClusterPolicy base, TrafficPolicy over, String field, Consumer<String> problems) {
    if (over == null) {
      return base;
    }
    LbPolicy lb = base.lb();
    LoadBalancerSettings l = over.getLoadBalancer();
    if (l != null && l.getLbPolicy() instanceof LoadBalancerSettingsSimple simple && simple.getSimple() != null) {
      lb = switch (simple.getSimple()) {
        case ROUND_ROBIN -> LbPolicy.ROUND_ROBIN;
        case RANDOM -> LbPolicy.RANDOM;
        case LEAST_REQUEST, LEAST_CONN, UNSPECIFIED -> LbPolicy.LEAST_REQUEST;
        case PASSTHROUGH -> {
          problems.accept(field + ".loadBalancer.simple: PASSTHROUGH is not supported by the waypoint (LEAST_REQUEST used)");
          yield LbPolicy.LEAST_REQUEST;
        }
      };
    } else if (l != null && l.getLbPolicy() != null) {
      problems.accept(field + ".loadBalancer: consistentHash is not supported by the waypoint (LEAST_REQUEST used)");
    }
    int maxConn = base.maxConnections();
    int pending = base.http1MaxPendingRequests();
    int maxReq = base.http2MaxRequests();
    int perConn = base.maxRequestsPerConnection();
    int maxRetries = base.maxRetries();
    ConnectionPoolSettings cp = over.getConnectionPool();
    if (cp != null) {
      maxConn = ClusterPolicy.UNLIMITED;
      pending = ClusterPolicy.UNLIMITED;
      maxReq = ClusterPolicy.UNLIMITED;
      perConn = 0;
      maxRetries = ClusterPolicy.UNLIMITED;
      if (cp.getTcp() != null && positive(cp.getTcp().getMaxConnections())) {
        maxConn = cp.getTcp().getMaxConnections();
      }
      if (cp.getHttp() != null) {
        var h = cp.getHttp();
        if (positive(h.getHttp1MaxPendingRequests())) {
          pending = h.getHttp1MaxPendingRequests();
        }
        if (positive(h.getHttp2MaxRequests())) {
          maxReq = h.getHttp2MaxRequests();
        }
        if (positive(h.getMaxRequestsPerConnection())) {
          perConn = h.getMaxRequestsPerConnection();
        }
        if (positive(h.getMaxRetries())) {
          maxRetries = h.getMaxRetries();
        }
      }
    }
    OutlierPolicy outlier = base.outlier();
    OutlierDetection od = over.getOutlierDetection();
    if (od != null) {
      int c5 = od.getConsecutive5xxErrors() != null ? od.getConsecutive5xxErrors()
          : od.getConsecutiveErrors() != null ? od.getConsecutiveErrors() : 5;
      int gw = od.getConsecutiveGatewayErrors() == null ? 0 : od.getConsecutiveGatewayErrors();
      outlier = new OutlierPolicy(c5, gw,
          duration(od.getInterval(), Duration.ofSeconds(10)),
          duration(od.getBaseEjectionTime(), Duration.ofSeconds(30)),
          OutlierPolicy.MAX_EJECTION_TIME,
          od.getMaxEjectionPercent() == null ? 10 : od.getMaxEjectionPercent(),
          od.getMinHealthPercent() == null ? 0 : od.getMinHealthPercent());
    }
    return new ClusterPolicy(lb, maxConn, pending, maxReq, perConn, maxRetries, outlier);
  }

  private static boolean positive(Integer i) {
    return i != null && i > 0;
  }

  private static Duration duration(String s, Duration dflt) {
    return s == null || s.isBlank() ? dflt : GoDuration.parse(s);
  }
}
