package dev.ambientj.config.ca;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Reads {@code authorization: Bearer <token>} of every call and records in the call's {@link
 * Context} the {@link Caller} the first of its {@link CallerAuthenticator}s proves, or why none
 * did. It rejects nothing itself: each service decides what it needs ({@link #requireCaller()}:
 * the CA; xDS serves an unauthenticated stream on the plaintext port, and the mTLS port's {@code
 * ClientCertificates} accepts a caller or a client certificate).
 *
 * <p>Authenticators are asked in order (cheap local ones first). Runs where gRPC starts calls (its
 * application executor), so an authenticator may block.
 */
public final class BearerAuthentication implements ServerInterceptor {
  public static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private static final Context.Key<Caller> CALLER = Context.key("ambientj-caller");
  private static final Context.Key<Status> PROBLEM = Context.key("ambientj-caller-problem");
  private static final String BEARER = "Bearer ";

  private final List<CallerAuthenticator> authenticators;
  private final String expected;

  /**
   * @param expected what a caller should send, for the UNAUTHENTICATED message (e.g. "the token
   *     that `mesh config-server` wrote to ...")
   */
  public BearerAuthentication(List<? extends CallerAuthenticator> authenticators, String expected) {
    if (authenticators.isEmpty()) {
      throw new IllegalArgumentException("no authenticator");
    }
    this.authenticators = List.copyOf(authenticators);
    this.expected = expected;
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(
      ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
    String value = headers.get(AUTHORIZATION);
    Context ctx;
    if (value == null) {
      ctx = problem(Status.Code.UNAUTHENTICATED, "no authorization header");
    } else if (!value.regionMatches(true, 0, BEARER, 0, BEARER.length())) {
      ctx = problem(Status.Code.UNAUTHENTICATED, "the authorization header is not a Bearer token");
    } else {
      ctx = authenticate(value.substring(BEARER.length()).strip());
    }
    return Contexts.interceptCall(ctx, call, headers, next);
  }

  private Context authenticate(String token) {
    List<String> refusals = new ArrayList<>();
    Status.Code code = Status.Code.UNAUTHENTICATED;
    for (CallerAuthenticator a : authenticators) {
      try {
        Optional<Caller> c = a.authenticate(token);
        if (c.isPresent()) {
          return Context.current().withValue(CALLER, c.get());
        }
      } catch (CallerAuthenticator.Rejected e) {
        refusals.add(e.getMessage());
        if (e.code() != Status.Code.UNAUTHENTICATED) {
          code = e.code(); // e.g. UNAVAILABLE: the API server did not answer; worth a retry
        }
      }
    }
    return problem(code, refusals.isEmpty()
        ? "the bearer token is not a known node token" : String.join("; ", refusals));
  }

  private Context problem(Status.Code code, String what) {
    return Context.current().withValue(PROBLEM,
        Status.fromCode(code).withDescription(what + " (expected " + expected + ")"));
  }

  /** The caller of the current call, if its token was valid. */
  public static Optional<Caller> caller() {
    return Optional.ofNullable(CALLER.get());
  }

  /**
   * The caller of the current call.
   *
   * @throws io.grpc.StatusRuntimeException {@code UNAUTHENTICATED} (or {@code UNAVAILABLE} when
   *     the token could not be checked), saying what was wrong and what is expected
   */
  public static Caller requireCaller() {
    Caller c = CALLER.get();
    if (c != null) {
      return c;
    }
    Status problem = PROBLEM.get();
    throw (problem == null
        ? Status.UNAUTHENTICATED.withDescription("the call was not authenticated")
        : problem).asRuntimeException();
  }
}
