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
    String error) {}
