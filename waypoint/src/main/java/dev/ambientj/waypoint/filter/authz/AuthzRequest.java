package dev.ambientj.waypoint.filter.authz;

import io.netty.handler.codec.http.HttpHeaders;
import java.net.InetAddress;

/**
 * The attributes an L7 AuthorizationPolicy reads.
 *
 * @param principal the source identity without {@code spiffe://} ({@code td/ns/x/sa/y}), or null
 * @param sourceNamespace the namespace of the source identity, or null
 * @param sourceIp the client's address
 * @param host the {@code Host} / {@code :authority}, without port
 * @param path the path without the query
 * @param port the destination (service) port
 * @param destinationIp the destination address (the service VIP)
 * @param tcp true for a connection to a TCP port (no HTTP attributes): HTTP-only fields of a rule
 *     (hosts, methods, paths, request headers) then make it fail closed — an ALLOW rule does not
 *     match, a DENY rule does (Istio's behaviour for TCP services)
 */
public record AuthzRequest(
    String principal,
    String sourceNamespace,
    InetAddress sourceIp,
    String host,
    String method,
    String path,
    int port,
    InetAddress destinationIp,
    HttpHeaders headers,
    boolean tcp) {

  /** An HTTP request. */
  public AuthzRequest(String principal, String sourceNamespace, InetAddress sourceIp, String host, String method,
      String path, int port, InetAddress destinationIp, HttpHeaders headers) {
    this(principal, sourceNamespace, sourceIp, host, method, path, port, destinationIp, headers, false);
  }

  /** A TCP connection. */
  public static AuthzRequest tcp(String principal, String sourceNamespace, InetAddress sourceIp, int port,
      InetAddress destinationIp) {
    return new AuthzRequest(principal, sourceNamespace, sourceIp, null, null, null, port, destinationIp,
        io.netty.handler.codec.http.EmptyHttpHeaders.INSTANCE, true);
  }
}
