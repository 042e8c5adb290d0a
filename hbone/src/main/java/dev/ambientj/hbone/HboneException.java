package dev.ambientj.hbone;

import java.io.IOException;
import java.net.SocketAddress;

/**
 * The one error type of the HBONE module. Messages are written for the operator; {@link #kind()}
 * is for code (e.g. the ztunnel turns it into a response flag or status code at its edge).
 */
public final class HboneException extends IOException {

  /** What went wrong. */
  public enum Kind {
    /** The TCP connection to the next hop timed out. */
    CONNECT_TIMEOUT,
    /** The next hop refused the TCP connection. */
    CONNECT_REFUSED,
    /** Another TCP-level failure while connecting. */
    CONNECT_FAILED,
    /** The TLS handshake failed (untrusted chain, no client certificate, protocol mismatch, timeout). */
    TLS_FAILURE,
    /** The peer's certificate verified, but its identity is not one we expected. */
    IDENTITY_MISMATCH,
    /** No certificate could be obtained for the identity we act as. */
    CERTIFICATE_UNAVAILABLE,
    /** The CONNECT was answered with a non-200 status. */
    HTTP_STATUS,
    /** The CONNECT was not answered in time. */
    RESPONSE_TIMEOUT,
    /** The stream was reset (RST_STREAM) by the peer. */
    STREAM_RESET,
    /** The connection went away (GOAWAY) before the stream was served. */
    GOAWAY,
    /** The connection closed before the stream completed. */
    CONNECTION_CLOSED,
    /** The peer violated HTTP/2 or HBONE. */
    PROTOCOL_ERROR,
    /** The client was closed. */
    CLIENT_CLOSED
  }

  private final Kind kind;
  private final int httpStatus;
  private final long http2ErrorCode;

  HboneException(Kind kind, String message, Throwable cause, int httpStatus, long http2ErrorCode) {
    super(message, cause);
    this.kind = kind;
    this.httpStatus = httpStatus;
    this.http2ErrorCode = http2ErrorCode;
  }

  HboneException(Kind kind, String message, Throwable cause) {
    this(kind, message, cause, 0, 0);
  }

  HboneException(Kind kind, String message) {
    this(kind, message, null, 0, 0);
  }

  public Kind kind() {
    return kind;
  }

  /** The CONNECT response status for {@link Kind#HTTP_STATUS}, else 0. */
  public int httpStatus() {
    return httpStatus;
  }

  /** The RST_STREAM / GOAWAY error code for {@link Kind#STREAM_RESET} / {@link Kind#GOAWAY}, else 0. */
  public long http2ErrorCode() {
    return http2ErrorCode;
  }

  static HboneException connectTimeout(SocketAddress to, long millis, Throwable cause) {
    return new HboneException(Kind.CONNECT_TIMEOUT,
        "connection to " + addr(to) + " timed out after " + millis + " ms — is port " + port(to)
            + " blocked by a NetworkPolicy or a firewall?", cause);
  }

  static HboneException connectRefused(SocketAddress to, Throwable cause) {
    return new HboneException(Kind.CONNECT_REFUSED,
        "connection to " + addr(to) + " refused — is the destination's ztunnel (or waypoint) listening on port "
            + port(to) + "?", cause);
  }

  static HboneException httpStatus(SocketAddress to, String authority, int status) {
    String hint = switch (status) {
      case 400 -> " (bad request: the peer rejected the method or the :authority)";
      case 401 -> " (denied by an AuthorizationPolicy at the destination)";
      case 503 -> " (the destination has no such workload/port, or could not reach it)";
      default -> "";
    };
    return new HboneException(Kind.HTTP_STATUS,
        "CONNECT " + authority + " via " + addr(to) + " answered " + status + hint, null, status, 0);
  }

  static HboneException streamReset(String where, long code) {
    return new HboneException(Kind.STREAM_RESET,
        "stream " + where + " reset by peer (" + http2ErrorName(code) + ")", null, 0, code);
  }

  static String http2ErrorName(long code) {
    io.netty.handler.codec.http2.Http2Error e = io.netty.handler.codec.http2.Http2Error.valueOf(code);
    return e != null ? e.name() : "error code " + code;
  }

  static String addr(SocketAddress a) {
    if (a instanceof java.net.InetSocketAddress i) {
      String host = i.getAddress() != null ? i.getAddress().getHostAddress() : i.getHostString();
      return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + i.getPort();
    }
    return String.valueOf(a);
  }

  private static String port(SocketAddress a) {
    return a instanceof java.net.InetSocketAddress i ? String.valueOf(i.getPort()) : "15008";
  }
}
