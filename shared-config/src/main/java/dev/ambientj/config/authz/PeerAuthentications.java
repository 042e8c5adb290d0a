package dev.ambientj.config.authz;

import io.fabric8.istio.api.api.security.v1beta1.PeerAuthenticationMutualTLS;
import io.fabric8.istio.api.api.security.v1beta1.PeerAuthenticationMutualTLSMode;
import io.fabric8.istio.api.security.v1.PeerAuthentication;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * PeerAuthentication resolution, compiled once per snapshot: for a workload and a (target) port,
 * the effective mode is the first set one of, most specific first,
 * <ol>
 *   <li>the workload-selector policy of the workload's namespace: its {@code portLevelMtls} entry
 *       for the port, then its {@code mtls.mode};
 *   <li>the namespace-wide policy (no selector) of the workload's namespace;
 *   <li>the mesh-wide policy (no selector) in the root namespace;
 *   <li>PERMISSIVE.
 * </ol>
 * {@code UNSET} (or no mode) inherits from the next level. When several policies compete at one
 * level, the oldest wins (creation timestamp, then name), as in Istio. {@code portLevelMtls} only
 * counts on a selector policy (istiod ignores it elsewhere). Immutable.
 */
public final class PeerAuthentications {
  public static final PeerAuthentications EMPTY =
      new PeerAuthentications(AuthorizationEngine.DEFAULT_ROOT_NAMESPACE, null, Map.of(), Map.of());

  private record Level(PeerAuthenticationMutualTLSMode mode, Map<Integer, PeerAuthenticationMutualTLSMode> ports,
      Map<String, String> selector, String ref) {}

  private final String rootNamespace;
  private final Level mesh;
  private final Map<String, Level> namespaceWide;
  private final Map<String, List<Level>> selectors;

  private PeerAuthentications(String rootNamespace, Level mesh, Map<String, Level> namespaceWide,
      Map<String, List<Level>> selectors) {
    this.rootNamespace = rootNamespace;
    this.mesh = mesh;
    this.namespaceWide = namespaceWide;
    this.selectors = selectors;
  }

  public static PeerAuthentications compile(List<PeerAuthentication> policies) {
    return compile(policies, AuthorizationEngine.DEFAULT_ROOT_NAMESPACE);
  }

  public static PeerAuthentications compile(List<PeerAuthentication> policies, String rootNamespace) {
    List<PeerAuthentication> sorted = new ArrayList<>(policies);
    sorted.sort(Comparator
        .comparing((PeerAuthentication p) -> p.getMetadata().getCreationTimestamp() == null ? ""
            : p.getMetadata().getCreationTimestamp())
        .thenComparing(p -> p.getMetadata().getNamespace() + "/" + p.getMetadata().getName()));
    Level mesh = null;
    Map<String, Level> nsWide = new HashMap<>();
    Map<String, List<Level>> selectors = new HashMap<>();
    for (PeerAuthentication p : sorted) {
      var spec = p.getSpec();
      if (spec == null) {
        continue;
      }
      String ns = p.getMetadata().getNamespace();
      PeerAuthenticationMutualTLSMode mode = spec.getMtls() == null ? null : spec.getMtls().getMode();
      Map<String, String> selector = spec.getSelector() == null
          || spec.getSelector().getMatchLabels() == null
          || spec.getSelector().getMatchLabels().isEmpty() ? null
          : Map.copyOf(spec.getSelector().getMatchLabels());
      String ref = ns + "/" + p.getMetadata().getName();
      if (selector == null) {
        Level l = new Level(mode, Map.of(), Map.of(), ref);
        if (ns.equals(rootNamespace)) {
          if (mesh == null) {
            mesh = l;
          }
        }
        nsWide.putIfAbsent(ns, l);
      } else {
        Map<Integer, PeerAuthenticationMutualTLSMode> ports = new HashMap<>();
        if (spec.getPortLevelMtls() != null) {
          for (Map.Entry<String, PeerAuthenticationMutualTLS> e : spec.getPortLevelMtls().entrySet()) {
            try {
              if (e.getValue() != null && e.getValue().getMode() != null) {
                ports.put(Integer.parseInt(e.getKey().trim()), e.getValue().getMode());
              }
            } catch (NumberFormatException ignored) {
              // validation rejects non-numeric keys; nothing to enforce for one
            }
          }
        }
        selectors.computeIfAbsent(ns, k -> new ArrayList<>())
            .add(new Level(mode, Map.copyOf(ports), selector, ref));
      }
    }
    Map<String, List<Level>> frozen = new HashMap<>();
    selectors.forEach((k, v) -> frozen.put(k, List.copyOf(v)));
    return new PeerAuthentications(rootNamespace, mesh, Map.copyOf(nsWide), Map.copyOf(frozen));
  }

  /**
   * The effective mode and the policy that set it ({@code namespace/name}; empty when none did and
   * the default, PERMISSIVE, applies).
   */
  public record Decision(MtlsMode mode, String policy) {}

  /** The effective mode for a workload's {@code port} (its target port). */
  public MtlsMode mode(String namespace, Map<String, String> labels, int port) {
    return decide(namespace, labels, port).mode();
  }

  /** As {@link #mode}, with the policy that decided it (for operators: analyze, config dumps). */
  public Decision decide(String namespace, Map<String, String> labels, int port) {
    for (Level l : selectors.getOrDefault(namespace, List.of())) {
      if (selects(l.selector(), labels)) {
        MtlsMode m = resolved(l.ports().get(port));
        if (m == null) {
          m = resolved(l.mode());
        }
        if (m != null) {
          return new Decision(m, l.ref());
        }
        break; // the oldest selector policy is the one that applies; UNSET inherits
      }
    }
    Level ns = namespaceWide.get(namespace);
    if (ns != null && resolved(ns.mode()) != null) {
      return new Decision(resolved(ns.mode()), ns.ref());
    }
    if (mesh != null && resolved(mesh.mode()) != null) {
      return new Decision(resolved(mesh.mode()), mesh.ref());
    }
    return new Decision(MtlsMode.PERMISSIVE, "");
  }

  /** Whether plaintext (port 15006) is refused for this workload and port. */
  public boolean refusesPlaintext(String namespace, Map<String, String> labels, int port) {
    return mode(namespace, labels, port) == MtlsMode.STRICT;
  }

  public String rootNamespace() {
    return rootNamespace;
  }

  private static MtlsMode resolved(PeerAuthenticationMutualTLSMode m) {
    if (m == null) {
      return null;
    }
    return switch (m) {
      case STRICT -> MtlsMode.STRICT;
      case PERMISSIVE -> MtlsMode.PERMISSIVE;
      case DISABLE -> MtlsMode.DISABLE;
      default -> null;
    };
  }

  private static boolean selects(Map<String, String> selector, Map<String, String> labels) {
    for (Map.Entry<String, String> e : selector.entrySet()) {
      if (!e.getValue().equals(labels.get(e.getKey()))) {
        return false;
      }
    }
    return true;
  }
}
