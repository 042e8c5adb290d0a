package dev.ambientj.config.analyze;

import static dev.ambientj.config.analyze.Refs.nsOf;
import static dev.ambientj.config.analyze.Refs.ref;

import dev.ambientj.config.analyze.Finding.Level;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Service;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.ServicePort;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.function.Consumer;

/**
 * A Service port declares its protocol by its name ({@code <protocol>[-<suffix>]}, Istio's naming
 * convention) or by {@code appProtocol}. One that declares neither is plain TCP to a waypoint (it
 * does not sniff): routes, L7 authorization, retries and HTTP metrics never apply to it.
 *
 * <ul>
 *   <li>IST0118 (PortNameIsNotUnderNamingConvention), Info: such a port on a Service with enrolled
 *       endpoints;
 *   <li>AMB0113, Warning: such a port on a Service bound to a waypoint, where it turns L7 off.
 * </ul>
 */
final class PortNames {
  /** The protocols of Istio's port naming convention. */
  static final Set<String> PROTOCOLS = Set.of("grpc", "grpc-web", "http", "http2", "https",
      "mongo", "mysql", "redis", "tcp", "tls", "udp");

  private PortNames() {}

  static void check(List<HasMetadata> objects, MeshSnapshot snapshot, Consumer<Finding> out) {
    for (HasMetadata o : objects) {
      if (!(o instanceof io.fabric8.kubernetes.api.model.Service s) || s.getSpec() == null
          || s.getSpec().getPorts() == null) {
        continue;
      }
      String ns = nsOf(s);
      var svc = snapshot.findServiceByHostname(s.getMetadata().getName() + "." + ns, ns);
      if (svc.isEmpty()) {
        continue; // rejected: reported as such
      }
      boolean enrolled = svc.get().endpoints().stream()
          .anyMatch(e -> snapshot.findWorkloadByUid(e.workloadUid())
              .map(dev.ambientj.config.model.Workload::enrolled).orElse(false));
      List<ServicePort> ports = s.getSpec().getPorts();
      for (int i = 0; i < ports.size(); i++) {
        ServicePort p = ports.get(i);
        if (declares(p) || (p.getProtocol() != null && !p.getProtocol().equals("TCP"))) {
          continue;
        }
        String name = p.getName() == null ? "" : p.getName();
        String field = "spec.ports[" + i + "]";
        Service bound = svc.get();
        if (bound.waypoint() != null) {
          out.accept(new Finding(Level.WARNING, "AMB0113", ref(s), field,
              "port \"" + name + "\" (" + p.getPort() + ") declares no protocol, so waypoint "
                  + bound.waypoint() + " treats it as TCP: HTTP routes, L7 authorization,"
                  + " retries and HTTP metrics do not apply to it (expected a name such as"
                  + " http-" + (name.isEmpty() ? "web" : name) + ", or appProtocol: http)"));
        } else if (enrolled) {
          out.accept(new Finding(Level.INFO, "IST0118", ref(s), field,
              "port name \"" + name + "\" (port " + p.getPort() + ", targetPort "
                  + target(p.getTargetPort()) + ") does not follow Istio's naming convention"
                  + " <protocol>[-<suffix>] and there is no appProtocol: a waypoint would treat"
                  + " it as TCP"));
        }
      }
    }
  }

  private static boolean declares(ServicePort p) {
    if (p.getAppProtocol() != null && !p.getAppProtocol().isBlank()) {
      return true;
    }
    String name = p.getName() == null ? "" : p.getName().toLowerCase(Locale.ROOT);
    if (name.startsWith("grpc-web")) {
      return true;
    }
    int dash = name.indexOf('-');
    return PROTOCOLS.contains(dash < 0 ? name : name.substring(0, dash));
  }

  private static String target(IntOrString t) {
    if (t == null) {
      return "unset";
    }
    return t.getIntVal() != null ? t.getIntVal().toString() : t.getStrVal();
  }
}
