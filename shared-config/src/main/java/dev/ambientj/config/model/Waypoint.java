package dev.ambientj.config.model;

import java.net.InetAddress;
import java.util.List;
import java.util.Objects;

/**
 * A waypoint: a Gateway API {@code Gateway} of class {@code istio-waypoint}.
 *
 * @param waypointFor the {@code istio.io/waypoint-for} label: service (default), workload, all or
 *     none
 * @param addresses the addresses of the waypoint's pods (labeled {@code
 *     gateway.networking.k8s.io/gateway-name=<name>} in its namespace), else the Gateway's {@code
 *     status.addresses} of type IPAddress
 * @param serviceAccount the waypoint pods' service account; {@code <name>} if no pod is known
 */
public record Waypoint(
    String name,
    String namespace,
    String waypointFor,
    List<InetAddress> addresses,
    String serviceAccount,
    String trustDomain) {

  public Waypoint {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(namespace, "namespace");
    Objects.requireNonNull(waypointFor, "waypointFor");
    addresses = List.copyOf(addresses);
    Objects.requireNonNull(serviceAccount, "serviceAccount");
    Objects.requireNonNull(trustDomain, "trustDomain");
  }

  public WaypointRef ref() {
    return new WaypointRef(namespace, name);
  }

  /** True when services may bind to this waypoint. */
  public boolean servesServices() {
    return waypointFor.equals("service") || waypointFor.equals("all");
  }

  /** True when workloads may bind to this waypoint. */
  public boolean servesWorkloads() {
    return waypointFor.equals("workload") || waypointFor.equals("all");
  }

  public String spiffeId() {
    return "spiffe://" + trustDomain + "/ns/" + namespace + "/sa/" + serviceAccount;
  }
}
