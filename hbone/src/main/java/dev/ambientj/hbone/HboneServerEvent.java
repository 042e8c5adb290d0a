package dev.ambientj.hbone;

import dev.ambientj.hbone.identity.SpiffeId;
import java.net.InetSocketAddress;
import java.util.Locale;

/**
 * Something the HBONE server did to a peer on its own, after the TLS handshake: a deadline that
 * expired, a limit that was hit, a protocol error. hbone logs each one; the server's
 * {@link ConnectRequestHandler#onServerEvent} gets it too, to count it.
 *
 * @param peerIdentity the peer's verified SPIFFE id
 * @param detail a message for the operator
 */
public record HboneServerEvent(Kind kind, InetSocketAddress peerAddress, SpiffeId peerIdentity, String detail) {

  public enum Kind {
    /** No CONNECT arrived within {@link HboneServerConfig#firstRequestTimeout()}: GOAWAY and close. */
    FIRST_REQUEST_TIMEOUT,
    /** A CONNECT was not answered within {@link HboneServerConfig#connectTimeout()}: 504. */
    CONNECT_TIMEOUT,
    /** Too many CONNECTs reset before their answer: GOAWAY ENHANCE_YOUR_CALM and close. */
    RAPID_RESET,
    /** The peer broke HTTP/2 (a connection error): GOAWAY with the error and close. */
    PROTOCOL_ERROR;

    /** The metric label: the name in lower case. */
    public String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }
}
