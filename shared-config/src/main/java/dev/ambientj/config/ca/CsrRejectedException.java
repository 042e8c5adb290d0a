package dev.ambientj.config.ca;

/**
 * A certificate signing request the CA will not sign; the message says why, for the operator of
 * the requesting proxy. The gRPC service turns it into {@code INVALID_ARGUMENT}.
 */
public final class CsrRejectedException extends Exception {
  private static final long serialVersionUID = 1L;

  public CsrRejectedException(String message) {
    super(message);
  }

  public CsrRejectedException(String message, Throwable cause) {
    super(message, cause);
  }
}
