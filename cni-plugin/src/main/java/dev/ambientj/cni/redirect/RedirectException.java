package dev.ambientj.cni.redirect;

/** Installing, checking or removing the redirection failed; the message names the command. */
public final class RedirectException extends Exception {
  private static final long serialVersionUID = 1L;

  public RedirectException(String message) {
    super(message);
  }

  public RedirectException(String message, Throwable cause) {
    super(message, cause);
  }
}
