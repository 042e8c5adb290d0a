package dev.ambientj.ztunnel.outbound;

import dev.ambientj.config.model.Endpoint;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Service;
import dev.ambientj.config.model.ServicePort;
import dev.ambientj.config.model.TunnelProtocol;
import dev.ambientj.config.model.Waypoint;
import dev.ambientj.config.model.WaypointRef;
import dev.ambientj.config.model.Workload;
import dev.ambientj.ztunnel.proxy.Ports;
import io.netty.util.NetUtil;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.random.RandomGenerator;

/**
 * The outbound decision of ISTIO-FACTS §3: given the source workload and the destination the client
 * asked for, where does the connection go. Pure: reads one snapshot, no I/O, so it is tested as a
 * table.
 *
 * <p>Order: self-call check; service VIP (its waypoint, else a healthy endpoint picked by weighted
 * random, the service port mapped to the target port); workload IP (its workload waypoint, port
 * unchanged); otherwise passthrough. An enrolled destination is reached over HBONE at
 * {@code podIP:15008} with {@code :authority podIP:targetPort}; an unenrolled one in plain TCP.
 */
public final class OutboundResolver {
  private final RandomGenerator random;

  public OutboundResolver(RandomGenerator random) {
    this.random = random;
  }

  /** Resolves a connection from {@code source} to {@code destination} (an IP, never unresolved). */
  public OutboundRoute resolve(MeshSnapshot snapshot, Workload source, InetSocketAddress destination) {
    InetAddress ip = destination.getAddress();
    int port = destination.getPort();
    if (Ports.isIllegal(port) && (ip.isLoopbackAddress() || ip.isAnyLocalAddress())
        && isOwnAddress(snapshot, source, ip)) {
      return new OutboundRoute.Refused(destination, "SelfCall",
          "refusing a call to ztunnel's own port " + port + " on " + format(destination));
    }
    Optional<Service> service = snapshot.findServiceByVip(ip);
    if (service.isPresent()) {
      return resolveService(snapshot, source, destination, service.get());
    }
    Optional<Workload> workload = snapshot.findWorkloadByAddress(ip);
    if (workload.isPresent()) {
      Workload w = workload.get();
      if (w.waypoint() != null) {
        Optional<Waypoint> wp = snapshot.findWaypoint(w.waypoint());
        if (wp.isEmpty() || !isFromWaypoint(source, wp.get())) {
          return viaWaypoint(snapshot, destination, w.waypoint(), wp, null,
              "workload " + w.namespace() + "/" + w.name());
        }
      }
      return direct(destination, w, ip, port, null);
    }
    return new OutboundRoute.Passthrough(destination);
  }

  /**
   * The address a SOCKS5 client's hostname stands for: an IP literal, or a service's VIP (full
   * {@code name.ns.svc.cluster.local} or a short form resolved in the client's namespace). Empty when
   * the mesh does not know it.
   */
  public static Optional<InetAddress> resolveHostname(MeshSnapshot snapshot, String host,
      String clientNamespace) {
    byte[] literal = NetUtil.createByteArrayFromIpAddressString(host);
    if (literal != null) {
      try {
        return Optional.of(InetAddress.getByAddress(literal));
      } catch (java.net.UnknownHostException e) {
        return Optional.empty();
      }
    }
    return snapshot.findServiceByHostname(host, clientNamespace)
        .flatMap(s -> s.vips().stream().sorted(OutboundResolver::preferIpv4).findFirst());
  }

  private OutboundRoute resolveService(MeshSnapshot snapshot, Workload source,
      InetSocketAddress destination, Service service) {
    String what = "service " + service.hostname();
    if (service.waypoint() != null) {
      Optional<Waypoint> wp = snapshot.findWaypoint(service.waypoint());
      if (wp.isEmpty() || !isFromWaypoint(source, wp.get())) {
        return viaWaypoint(snapshot, destination, service.waypoint(), wp, service, what);
      }
    }
    Optional<ServicePort> servicePort = service.findPort(destination.getPort());
    if (servicePort.isEmpty()) {
      return new OutboundRoute.Refused(destination, "NoHealthyUpstream",
          what + " has no port " + destination.getPort());
    }
    List<Workload> candidates = new ArrayList<>(service.endpoints().size());
    List<Endpoint> endpoints = new ArrayList<>(service.endpoints().size());
    for (Endpoint e : service.endpoints()) {
      Optional<Workload> w = snapshot.findWorkloadByUid(e.workloadUid());
      if (w.isPresent() && w.get().healthy() && !w.get().addresses().isEmpty()
          && e.targetPortFor(servicePort.get()) > 0) {
        candidates.add(w.get());
        endpoints.add(e);
      }
    }
    if (candidates.isEmpty()) {
      return new OutboundRoute.Refused(destination, "NoHealthyUpstream",
          what + " has no healthy endpoint");
    }
    // Weighted random as ztunnel's load_balance; every workload has capacity 1 in our model.
    int pick = candidates.size() == 1 ? 0 : random.nextInt(candidates.size());
    Workload chosen = candidates.get(pick);
    int targetPort = endpoints.get(pick).targetPortFor(servicePort.get());
    return direct(destination, chosen, null, targetPort, service);
  }

  private static OutboundRoute direct(InetSocketAddress original, Workload w, InetAddress requestedIp,
      int port, Service service) {
    InetAddress ip = requestedIp != null && w.addresses().contains(requestedIp)
        ? requestedIp
        : w.addresses().stream().sorted(OutboundResolver::preferIpv4).findFirst().orElseThrow();
    if (w.protocol() == TunnelProtocol.HBONE) {
      return new OutboundRoute.Hbone(original, new InetSocketAddress(ip, Ports.HBONE),
          format(new InetSocketAddress(ip, port)), w.spiffeId(), w, service, null);
    }
    return new OutboundRoute.PlainTcp(original, new InetSocketAddress(ip, port), w, service);
  }

  private static OutboundRoute viaWaypoint(MeshSnapshot snapshot, InetSocketAddress original,
      WaypointRef ref, Optional<Waypoint> waypoint, Service service, String what) {
    if (waypoint.isEmpty() || waypoint.get().addresses().isEmpty()) {
      return new OutboundRoute.Refused(original, "NoValidWaypoint",
          what + " uses waypoint " + ref + ", which has no address");
    }
    Waypoint wp = waypoint.get();
    InetAddress address = wp.addresses().stream().sorted(OutboundResolver::preferIpv4)
        .findFirst().orElseThrow();
    Workload waypointPod = snapshot.findWorkloadByAddress(address).orElse(null);
    // :authority is the original VIP:port (or podIP:port), untranslated: the waypoint routes on it.
    return new OutboundRoute.Hbone(original, new InetSocketAddress(address, Ports.HBONE),
        format(original), wp.spiffeId(), waypointPod, service, wp);
  }

  /** ztunnel's check_from_waypoint: the source is the waypoint itself (same identity and address). */
  private static boolean isFromWaypoint(Workload source, Waypoint wp) {
    if (source == null || !source.spiffeId().equals(wp.spiffeId())) {
      return false;
    }
    for (InetAddress a : source.addresses()) {
      if (wp.addresses().contains(a)) {
        return true;
      }
    }
    return false;
  }

  /**
   * Whether {@code ip} is a local address of the source's network (host mode: any loopback address is
   * local, but only the source's own pod IP and 127.0.0.1 reach its ztunnel listeners).
   */
  private static boolean isOwnAddress(MeshSnapshot snapshot, Workload source, InetAddress ip) {
    if (ip.isAnyLocalAddress() || ip.equals(InetAddress.getLoopbackAddress())) {
      return true;
    }
    if (source != null && source.addresses().contains(ip)) {
      return true;
    }
    // Another enrolled workload's listener on this machine is as much a loop through ztunnel.
    return snapshot.findWorkloadByAddress(ip).map(Workload::enrolled).orElse(false);
  }

  private static int preferIpv4(InetAddress a, InetAddress b) {
    return Boolean.compare(!(a instanceof Inet4Address), !(b instanceof Inet4Address));
  }

  /** {@code ip:port}, IPv6 as {@code [v6]:port} (the HBONE authority form). */
  public static String format(InetSocketAddress address) {
    return NetUtil.toSocketAddressString(address);
  }
}
