package dev.ambientj.config.ca;

import io.grpc.Status;
import java.util.Objects;

/**
 * A certificate request that did not produce a usable chain: the CA refused it, could not be
 * reached, or answered something unusable. The message names the CA, the identity and the reason.
 */
public final class CaClientException extends Exception {
  private static final long serialVersionUID = 1L;
  private final transient Status status;

  public CaClientException(String message, Status status, Throwable cause) {
    super(message, cause);
    this.status = Objects.requireNonNull(status, "status");
  }

  /**
   * The gRPC status: the CA's answer ({@code UNAUTHENTICATED}, {@code PERMISSION_DENIED}, {@code
   * INVALID_ARGUMENT}, ...), {@code UNAVAILABLE}/{@code DEADLINE_EXCEEDED} for transport trouble,
   * {@code DATA_LOSS} for a response that does not hold the chain asked for.
   */
  public Status status() {
    return status;
  }
}
