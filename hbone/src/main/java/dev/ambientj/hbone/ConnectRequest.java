package dev.ambientj.hbone;

import dev.ambientj.hbone.identity.SpiffeId;
import java.net.InetSocketAddress;

/**
 * One inbound HBONE CONNECT stream, as the server hands it to its {@link ConnectRequestHandler}.
 *
 * @param peerIdentity the client's SPIFFE id from its verified certificate (never from a header)
 * @param peerAddress the TCP peer of the HTTP/2 connection
 * @param localAddress the address the HTTP/2 connection arrived on
 * @param authority {@code :authority} as sent
 * @param target {@code :authority} parsed (always has a port; requests without one got 400)
 * @param baggage the {@code baggage} header, or null
 * @param forwarded the {@code forwarded} header, or null
 * @param traceparent the {@code traceparent} header, or null
 */
public record ConnectRequest(
    SpiffeId peerIdentity,
    InetSocketAddress peerAddress,
    InetSocketAddress localAddress,
    String authority,
    HostAndPort target,
    String baggage,
    String forwarded,
    String traceparent) {}
