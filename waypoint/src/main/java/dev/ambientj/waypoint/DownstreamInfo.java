package dev.ambientj.waypoint;

import dev.ambientj.config.model.Workload;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.waypoint.telemetry.RequestLog;
import java.net.InetAddress;
import java.net.InetSocketAddress;

/**
 * What is known about the client of one CONNECT stream, fixed for its lifetime.
 *
 * @param peerIdentity the verified SPIFFE id of the client (its ztunnel presents the client
 *     workload's certificate)
 * @param sourceAddress the client's address: the {@code forwarded for=} of the CONNECT when
 *     present (ztunnel sets it), else the TCP peer
 * @param sourceWorkload the client workload found by address, or null
 * @param vip the destination VIP (the {@code :authority} host)
 * @param port the destination service port
 */
record DownstreamInfo(
    SpiffeId peerIdentity,
    InetSocketAddress sourceAddress,
    Workload sourceWorkload,
    InetAddress vip,
    int port) {

  String principal() {
    return peerIdentity == null ? null : peerIdentity.principal();
  }

  String sourceNamespace() {
    return peerIdentity == null ? null : peerIdentity.namespace();
  }

  /** A new access-log record of a request from this client that began at the given times. */
  RequestLog newLog(String protocol, long startMillis, long startNanos) {
    RequestLog log = new RequestLog();
    log.startMillis = startMillis;
    log.startNanos = startNanos;
    log.protocol = protocol;
    log.sourcePrincipal = principal();
    log.sourceAddress = sourceAddress == null ? null : sourceAddress.toString();
    log.sourceWorkload = sourceWorkload;
    return log;
  }
}
