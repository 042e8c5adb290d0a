package dev.ambientj.ztunnel.outbound;

/**
 * How the front end of an outbound connection (SOCKS5 or capture) learns the outcome of the
 * upstream connect. Both methods run on the downstream channel's event loop.
 */
interface OutboundCallback {
  /** The upstream is connected; the relay starts right after this returns. */
  void onConnected();

  /** No upstream: the callee must close the downstream (after a protocol reply, if any). */
  void onFailed(Failure failure, String message);

  /** Why an outbound connection failed, mapped to SOCKS5 reply codes by the SOCKS front end. */
  enum Failure {
    /** Refused by ztunnel itself (self call, no healthy upstream, unknown source). */
    REFUSED,
    /** The host name is not known to the mesh. */
    UNKNOWN_HOST,
    /** The upstream TCP or HBONE connect failed. */
    CONNECT_FAILED,
    /** The upstream connect did not finish within the connect deadline. */
    TIMED_OUT,
    /** The proxy's connection cap is reached (no socket left for an upstream). */
    OVERLOADED
  }
}
