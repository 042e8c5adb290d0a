package dev.ambientj.config;

import dev.ambientj.config.model.WaypointRef;
import io.fabric8.istio.api.telemetry.v1.Telemetry;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * Which {@code Telemetry} resources (telemetry.istio.io) set a waypoint's trace sampling, and to
 * what: Istio's hierarchy, most specific first —
 *
 * <ol>
 *   <li>in the waypoint's namespace, with {@code targetRefs} (or {@code targetRef}) naming its
 *       Gateway, or a {@code selector} matching its pods' {@code
 *       gateway.networking.k8s.io/gateway-name} label;
 *   <li>in the waypoint's namespace, without selector or target;
 *   <li>in the root namespace ({@code istio-system}), without selector or target: the mesh default.
 * </ol>
 *
 * <p>The first level with a {@code tracing[].randomSamplingPercentage} gives it (among several
 * at one level, the oldest, then by name). None: the proxy's default (Istio's 1%). Values were
 * checked (0..100) when the object was accepted.
 */
public final class TelemetryTracing {
  static final String GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name";

  private TelemetryTracing() {}

  /** Whether {@code t} may set anything for waypoint {@code wp}. */
  public static boolean appliesTo(Telemetry t, WaypointRef wp, String rootNamespace) {
    return level(t, wp, rootNamespace) > 0;
  }

  /** The sampling percentage the Telemetry resources in {@code all} set for {@code wp}, or null. */
  public static Double samplingPercentage(List<Telemetry> all, WaypointRef wp, String rootNamespace) {
    Telemetry best = null;
    int bestLevel = 0;
    for (Telemetry t : all.stream().sorted(OLDEST_FIRST).toList()) {
      int level = level(t, wp, rootNamespace);
      if (level > bestLevel && percentage(t) != null) {
        best = t;
        bestLevel = level;
      }
    }
    return best == null ? null : percentage(best);
  }

  private static final Comparator<Telemetry> OLDEST_FIRST = Comparator
      .comparing((Telemetry t) -> t.getMetadata().getCreationTimestamp() == null ? ""
          : t.getMetadata().getCreationTimestamp())
      .thenComparing(t -> t.getMetadata().getNamespace() + "/" + t.getMetadata().getName());

  private static Double percentage(Telemetry t) {
    if (t.getSpec() == null || t.getSpec().getTracing() == null) {
      return null;
    }
    for (var tracing : t.getSpec().getTracing()) {
      if (tracing != null && tracing.getRandomSamplingPercentage() != null) {
        return tracing.getRandomSamplingPercentage();
      }
    }
    return null;
  }

  /** 3: targets the waypoint; 2: its namespace; 1: the mesh; 0: not this waypoint's. */
  private static int level(Telemetry t, WaypointRef wp, String rootNamespace) {
    String ns = t.getMetadata().getNamespace();
    var spec = t.getSpec();
    boolean targeted = spec != null && (spec.getSelector() != null || spec.getTargetRef() != null
        || spec.getTargetRefs() != null && !spec.getTargetRefs().isEmpty());
    if (!wp.namespace().equals(ns)) {
      return !targeted && rootNamespace.equals(ns) ? 1 : 0;
    }
    if (!targeted) {
      return 2;
    }
    if (spec.getSelector() != null) {
      Map<String, String> labels = spec.getSelector().getMatchLabels();
      return labels != null && labels.size() == 1 && wp.name().equals(labels.get(GATEWAY_NAME_LABEL)) ? 3 : 0;
    }
    var refs = spec.getTargetRefs() != null && !spec.getTargetRefs().isEmpty() ? spec.getTargetRefs()
        : List.of(spec.getTargetRef());
    for (var r : refs) {
      if (r != null && "Gateway".equals(r.getKind()) && wp.name().equals(r.getName())
          && (r.getGroup() == null || r.getGroup().isEmpty() || r.getGroup().equals("gateway.networking.k8s.io"))) {
        return 3;
      }
    }
    return 0;
  }
}
