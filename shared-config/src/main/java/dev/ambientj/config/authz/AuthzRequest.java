package dev.ambientj.config.authz;

import java.net.InetAddress;

/**
 * The attributes an AuthorizationPolicy reads, for one connection (ztunnel; the waypoint on a TCP
 * port) or one HTTP request (the waypoint).
 *
 * <p>L4 fields are always set by the enforcement point (the source ones may be null: no identity on
 * a plaintext connection). L7 fields are null on a connection ({@link #isHttp()} false); a rule
 * that reads them is then handled by the {@link EnforcementPoint} rules, never by comparing against
 * null.
 *
 * @param sourcePrincipal the proven source identity, {@code spiffe://td/ns/x/sa/y} or
 *     {@code td/ns/x/sa/y}; null without mTLS
 * @param sourceIp the client's address ({@code ipBlocks}, {@code source.ip}): at ztunnel the
 *     connection's peer, at the waypoint the client pod (from ztunnel's {@code forwarded} header)
 * @param remoteIp the original client address ({@code remoteIpBlocks}, {@code remote.ip}): the
 *     same as {@code sourceIp} unless the waypoint trusts proxies in front of it and takes it from
 *     {@code X-Forwarded-For} ({@link ForwardedFor}); null means {@code sourceIp}
 * @param destinationIp the destination pod (or VIP at a waypoint)
 * @param destinationPort the resolved target port (the service port at a waypoint)
 * @param host HTTP: {@code Host}/{@code :authority} without port, or null
 * @param method HTTP: the method, or null on a connection
 * @param path HTTP: the path without the query, or null
 * @param headers HTTP: request headers, or null
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
    Headers headers) {

  /** Request headers as the enforcement point holds them. */
  @FunctionalInterface
  public interface Headers {
    /** The first value of the header {@code lowerCaseName} (matched case-insensitively), or null. */
    String get(String lowerCaseName);
  }

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

  /** Whether this is an HTTP request (L7 attributes present), not a connection. */
  public boolean isHttp() {
    return method != null;
  }

  /** The principal without {@code spiffe://} ({@code td/ns/x/sa/y}), as Istio matches it. */
  public String principal() {
    return sourcePrincipal;
  }

  /** The namespace of the source identity, or null (no identity, or not a Kubernetes SPIFFE id). */
  public String sourceNamespace() {
    int ns = namespaceStart();
    return ns < 0 ? null : sourcePrincipal.substring(ns, sourcePrincipal.indexOf('/', ns));
  }

  /** {@code ns/sa} of the source identity, or null. */
  public String sourceServiceAccount() {
    int ns = namespaceStart();
    if (ns < 0) {
      return null;
    }
    int nsEnd = sourcePrincipal.indexOf('/', ns);
    return sourcePrincipal.substring(ns, nsEnd) + sourcePrincipal.substring(nsEnd + 3);
  }

  /** A request header by name (case-insensitive), or null. */
  public String header(String lowerCaseName) {
    return headers == null ? null : headers.get(lowerCaseName);
  }

  /** Where the namespace starts in {@code td/ns/<ns>/sa/<sa>}, or -1 for another shape. */
  private int namespaceStart() {
    String p = sourcePrincipal;
    if (p == null) {
      return -1;
    }
    int td = p.indexOf('/');
    if (td <= 0 || !p.startsWith("ns/", td + 1)) {
      return -1;
    }
    int ns = td + 4;
    int nsEnd = p.indexOf('/', ns);
    if (nsEnd <= ns || !p.startsWith("/sa/", nsEnd) || nsEnd + 4 >= p.length()
        || p.indexOf('/', nsEnd + 4) >= 0) {
      return -1;
    }
    return ns;
  }
}
