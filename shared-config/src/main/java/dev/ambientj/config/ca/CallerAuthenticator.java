package dev.ambientj.config.ca;

import io.grpc.Status;
import java.util.Optional;

/**
 * Turns the bearer token of a call to the config server into a {@link Caller}. The services (CA,
 * xDS) see only the {@code Caller} ({@link BearerAuthentication#caller()}), never which kind of
 * credential proved it.
 *
 * <p>Implementations may block (a TokenReview is an API call): {@link BearerAuthentication} runs
 * them on gRPC's application executor, never on an event loop.
 */
public interface CallerAuthenticator {

  /**
   * @return the caller; empty when this authenticator does not recognise the token (another one
   *     may)
   * @throws Rejected when it recognised the token as its kind and refuses it, or could not decide
   */
  Optional<Caller> authenticate(String token) throws Rejected;

  /** A refusal with the gRPC status to answer and a message for the operator. */
  final class Rejected extends Exception {
    private static final long serialVersionUID = 1L;
    private final transient Status.Code code;

    public Rejected(Status.Code code, String message, Throwable cause) {
      super(message, cause);
      this.code = code;
    }

    public Status.Code code() {
      return code;
    }
  }
}
