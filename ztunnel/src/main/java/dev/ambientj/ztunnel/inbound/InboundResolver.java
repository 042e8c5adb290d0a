package dev.ambientj.ztunnel.inbound;

import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Service;
import dev.ambientj.config.model.ServicePort;
import dev.ambientj.config.model.Waypoint;
import dev.ambientj.config.model.WaypointRef;
import dev.ambientj.config.model.Workload;
import dev.ambientj.ztunnel.proxy.Ports;
import io.netty.util.NetUtil;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.Optional;

/**
 * The inbound decision of ISTIO-FACTS §4 for an HBONE CONNECT that reached a local workload's
 * {@code :15008}: {@code validate_destination} (anti-spoofing), then the upstream (always the local
 * pod, at the authority's port or the service port translated to the target port).
 * Pure: one snapshot in, a decision out.
 *
 * <p>Statuses: an authority IP that is neither the address the connection arrived on nor an address
 * whose waypoint is this workload → 400; an unknown local workload, an unresolvable port or one of
 * ztunnel's own ports → 503.
 */
public final class InboundResolver {
  private InboundResolver() {}

  /**
   * @param local the workload owning the listener, or null if it left the snapshot
   * @param arrivedOn the local address the TCP connection arrived on
   * @param host the authority's host: an IP literal or a host name
   * @param port the authority's port
   */
  public static InboundDecision resolve(MeshSnapshot snapshot, Workload local,
      InetAddress arrivedOn, String host, int port) {
    if (local == null) {
      return new InboundDecision.Refuse(503, "UnknownWorkload",
          "no workload on " + arrivedOn.getHostAddress() + " in this node's configuration");
    }
    InetAddress podIp = podAddress(local, arrivedOn);
    byte[] literal = NetUtil.createByteArrayFromIpAddressString(host);
    if (literal == null) {
      return resolveHostname(snapshot, local, podIp, host, port);
    }
    InetAddress target;
    try {
      target = InetAddress.getByAddress(literal);
    } catch (UnknownHostException e) {
      return new InboundDecision.Refuse(400, "BadAuthority", "bad authority host " + host);
    }
    Service service = null;
    if (!target.equals(arrivedOn)) {
      Optional<Service> viaVip = snapshot.findServiceByVip(target);
      Optional<Workload> viaWorkload = snapshot.findWorkloadByAddress(target);
      WaypointRef ref = viaVip.map(Service::waypoint)
          .orElseGet(() -> viaWorkload.map(Workload::waypoint).orElse(null));
      if (ref == null || !isWaypoint(snapshot, snapshot.findWaypoint(ref), local)) {
        return new InboundDecision.Refuse(400, "IPMismatch",
            "HBONE target " + NetUtil.toSocketAddressString(new InetSocketAddress(target, port))
                + " is not this workload (" + local.namespace() + "/" + local.name() + " on "
                + arrivedOn.getHostAddress() + ") and does not use it as its waypoint");
      }
      service = viaVip.orElse(null);
    }
    if (Ports.isIllegal(port)) {
      return selfCall(port);
    }
    return new InboundDecision.Accept(new InetSocketAddress(podIp, port), service);
  }

  private static InboundDecision resolveHostname(MeshSnapshot snapshot, Workload local,
      InetAddress podIp, String host, int port) {
    Optional<Service> service = snapshot.findServiceByHostname(host, local.namespace());
    if (service.isEmpty()) {
      return new InboundDecision.Refuse(503, "NoService", "no service " + host);
    }
    Optional<ServicePort> servicePort = service.get().findPort(port);
    if (servicePort.isEmpty()) {
      return new InboundDecision.Refuse(503, "NoPort",
          "service " + service.get().hostname() + " has no port " + port);
    }
    ServicePort sp = servicePort.get();
    int target = service.get().endpoints().stream()
        .filter(e -> e.workloadUid().equals(local.uid()))
        .findFirst()
        .map(e -> e.targetPortFor(sp))
        .orElse(sp.targetPort() != 0 ? sp.targetPort() : sp.port());
    if (Ports.isIllegal(target)) {
      return selfCall(target);
    }
    return new InboundDecision.Accept(new InetSocketAddress(podIp, target), service.get());
  }

  /** Whether {@code waypoint} resolves to {@code local}: one of its addresses is the local pod. */
  private static boolean isWaypoint(MeshSnapshot snapshot, Optional<Waypoint> waypoint,
      Workload local) {
    if (waypoint.isEmpty()) {
      return false;
    }
    for (InetAddress a : waypoint.get().addresses()) {
      if (local.addresses().contains(a)) {
        return true;
      }
      // A waypoint addressed by its service VIP: the local pod must be one of its endpoints.
      Optional<Service> s = snapshot.findServiceByVip(a);
      if (s.isPresent()
          && s.get().endpoints().stream().anyMatch(e -> e.workloadUid().equals(local.uid()))) {
        return true;
      }
    }
    return false;
  }

  private static InetAddress podAddress(Workload local, InetAddress arrivedOn) {
    if (local.addresses().contains(arrivedOn)) {
      return arrivedOn;
    }
    return local.addresses().stream().filter(a -> a instanceof Inet4Address).findFirst()
        .orElse(local.addresses().isEmpty() ? arrivedOn : local.addresses().get(0));
  }

  private static InboundDecision selfCall(int port) {
    return new InboundDecision.Refuse(503, "SelfCall",
        "port " + port + " is one of ztunnel's own ports");
  }
}
