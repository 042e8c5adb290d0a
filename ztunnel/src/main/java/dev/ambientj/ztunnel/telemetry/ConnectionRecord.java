package dev.ambientj.ztunnel.telemetry;

/**
 * One finished connection, as the access log reports it. Field names follow ztunnel's JSON access
 * log (ISTIO-FACTS §9); null fields are omitted from the line.
 *
 * @param direction {@code outbound} or {@code inbound}
 * @param srcIdentity the source SPIFFE id ({@code spiffe://…}), only when it was proven over mTLS
 * @param dstAddr the next hop (outbound) or the address the connection arrived on (inbound)
 * @param dstHboneAddr the HBONE {@code :authority}, when the hop was HBONE
 * @param bytesSent bytes from the client toward the server
 * @param bytesRecv bytes from the server back to the client
 * @param error an operator-facing error, or null
 * @param responseFlags Istio's {@code response_flags} ({@code DENY}, {@code CONNECT}…), or null
 *     when nothing went wrong
 * @param policy the AuthorizationPolicy ({@code namespace/name}) or PeerAuthentication decision
 *     that allowed or denied the connection, or null
 */
public record ConnectionRecord(
    String direction,
    String srcAddr,
    String srcWorkload,
    String srcNamespace,
    String srcIdentity,
    String dstAddr,
    String dstHboneAddr,
    String dstService,
    String dstWorkload,
    String dstNamespace,
    String dstIdentity,
    long bytesSent,
    long bytesRecv,
    long durationMillis,
    String error,
    String responseFlags,
    String policy) {

  /** A record without a response flag or policy. */
  public ConnectionRecord(String direction, String srcAddr, String srcWorkload,
      String srcNamespace, String srcIdentity, String dstAddr, String dstHboneAddr,
      String dstService, String dstWorkload, String dstNamespace, String dstIdentity,
      long bytesSent, long bytesRecv, long durationMillis, String error) {
    this(direction, srcAddr, srcWorkload, srcNamespace, srcIdentity, dstAddr, dstHboneAddr,
        dstService, dstWorkload, dstNamespace, dstIdentity, bytesSent, bytesRecv, durationMillis,
        error, null, null);
  }
}
