package dev.ambientj.config.model;

import java.net.InetAddress;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A Kubernetes Service.
 *
 * @param hostname {@code <name>.<namespace>.svc.<trust domain suffix>}, e.g. {@code
 *     orders.production.svc.cluster.local}
 * @param vips {@code spec.clusterIPs} (or {@code clusterIP}); empty for headless services
 * @param endpoints the workloads selected by the service selector that have an address; both
 *     healthy and unhealthy ones (see {@link Workload#healthy()})
 * @param waypoint bound with {@code istio.io/use-waypoint} on the Service or its namespace, only
 *     when the waypoint serves services ({@code waypoint-for} service or all); else null
 */
public record Service(
    String name,
    String namespace,
    String hostname,
    List<InetAddress> vips,
    List<ServicePort> ports,
    List<Endpoint> endpoints,
    WaypointRef waypoint) {

  public Service {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(namespace, "namespace");
    Objects.requireNonNull(hostname, "hostname");
    vips = List.copyOf(vips);
    ports = List.copyOf(ports);
    endpoints = List.copyOf(endpoints);
  }

  public Optional<ServicePort> findPort(int servicePort) {
    for (ServicePort p : ports) {
      if (p.port() == servicePort) {
        return Optional.of(p);
      }
    }
    return Optional.empty();
  }
}
