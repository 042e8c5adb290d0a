package dev.ambientj.ztunnel.outbound;

import dev.ambientj.config.model.Service;
import dev.ambientj.config.model.Waypoint;
import dev.ambientj.config.model.Workload;
import java.net.InetSocketAddress;

/**
 * Where an outbound connection goes, as decided by {@link OutboundResolver} from one snapshot.
 * Services, workloads and waypoints are the snapshot's own instances (nullable where stated).
 */
public sealed interface OutboundRoute {

  /** The address the client asked for (VIP or pod IP, original port). */
  InetSocketAddress originalDestination();

  /**
   * HBONE to {@code nextHop} (a pod's or a waypoint's {@code :15008}) with {@code :authority}.
   *
   * @param expectedIdentity the SPIFFE id the server must prove ({@code spiffe://…})
   * @param destination the workload at the next hop: the chosen endpoint, or the waypoint's pod when
   *     known; null for a waypoint whose pod is not in the snapshot
   * @param service the addressed service, or null when workload-addressed
   * @param waypoint the waypoint the connection goes through, or null when direct
   */
  record Hbone(InetSocketAddress originalDestination, InetSocketAddress nextHop, String authority,
      String expectedIdentity, Workload destination, Service service, Waypoint waypoint)
      implements OutboundRoute {}

  /** Plain TCP to a workload that is in the mesh but not enrolled ({@code TunnelProtocol.NONE}). */
  record PlainTcp(InetSocketAddress originalDestination, InetSocketAddress target,
      Workload destination, Service service) implements OutboundRoute {}

  /** Not in the mesh: plain TCP to the original destination. */
  record Passthrough(InetSocketAddress originalDestination) implements OutboundRoute {}

  /**
   * The connection must not be made.
   *
   * @param reason ztunnel's error kind, e.g. {@code SelfCall}, {@code NoHealthyUpstream}
   * @param message for the operator (access log)
   */
  record Refused(InetSocketAddress originalDestination, String reason, String message)
      implements OutboundRoute {}
}
