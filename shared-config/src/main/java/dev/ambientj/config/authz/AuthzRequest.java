package dev.ambientj.config.authz;

import java.net.InetAddress;
import java.util.Locale;
import java.util.Map;

/**
 * The attributes an AuthorizationPolicy reads, for one connection (ztunnel) or one request
 * (waypoint).
 *
 * <p>L4 fields are always set by the enforcement point (the source ones may be null: no identity on
 * a plaintext connection). L7 fields are null at ztunnel; a rule that reads them is handled by
 * {@link EnforcementPoint} rules, never by comparing against null.
 *
 * @param sourcePrincipal the proven source identity, {@code spiffe://td/ns/x/sa/y} or
 *     {@code td/ns/x/sa/y}; null without mTLS
 * @param sourceIp the peer address of the connection (ztunnel's RBAC {@code src})
 * @param remoteIp the original client address ({@code remoteIpBlocks}, {@code remote.ip}); at
 *     ztunnel the same as {@code sourceIp}
 * @param destinationIp the destination pod (or VIP at a waypoint)
 * @param destinationPort the resolved target port
 * @param host L7: {@code Host}/{@code :authority} without port, or null
 * @param method L7: the HTTP method, or null
 * @param path L7: the path without the query, or null
 * @param headers L7: request headers by lower-case name (first value), or null
 */
public record AuthzRequest(
    String sourcePrincipal,
    InetAddress sourceIp,
    InetAddress remoteIp,
    InetAddress destinationIp,
    int destinationPort,
    String host,
    String method,
    String path,
    Map<String, String> headers) {

  private static final String SPIFFE = "spiffe://";

  public AuthzRequest {
    if (sourcePrincipal != null && sourcePrincipal.startsWith(SPIFFE)) {
      sourcePrincipal = sourcePrincipal.substring(SPIFFE.length());
    }
    if (remoteIp == null) {
      remoteIp = sourceIp;
    }
  }

  /** A connection as ztunnel sees it (no L7 attributes). */
  public static AuthzRequest l4(String sourcePrincipal, InetAddress sourceIp,
      InetAddress destinationIp, int destinationPort) {
    return new AuthzRequest(sourcePrincipal, sourceIp, sourceIp, destinationIp, destinationPort,
        null, null, null, null);
  }

  /** The principal without {@code spiffe://} ({@code td/ns/x/sa/y}), as Istio matches it. */
  public String principal() {
    return sourcePrincipal;
  }

  /** The namespace of the source identity, or null (no identity or not a Kubernetes SPIFFE id). */
  public String sourceNamespace() {
    String[] p = segments();
    return p == null ? null : p[2];
  }

  /** {@code ns/sa} of the source identity, or null. */
  public String sourceServiceAccount() {
    String[] p = segments();
    return p == null ? null : p[2] + "/" + p[4];
  }

  /** A request header by name (case-insensitive), or null. */
  public String header(String name) {
    return headers == null ? null : headers.get(name.toLowerCase(Locale.ROOT));
  }

  private String[] segments() {
    if (sourcePrincipal == null) {
      return null;
    }
    String[] p = sourcePrincipal.split("/");
    return p.length == 5 && p[1].equals("ns") && p[3].equals("sa") ? p : null;
  }
}
