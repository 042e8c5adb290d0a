package dev.ambientj.config.ca;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads {@code authorization: Bearer <token>} of every call and records in the call's {@link
 * Context} the {@link Caller} the first of its {@link CallerAuthenticator}s proves.
 *
 * <p>A call that carries credentials which are not valid — a token no authenticator accepts, an
 * empty one, another scheme than Bearer — is refused here with {@code UNAUTHENTICATED} (or the
 * authenticator's code, e.g. {@code UNAVAILABLE} when the API server could not review the token),
 * whatever the service: bad credentials are never served as if the caller had sent none. Each
 * refusal is logged with the caller's address and the reason ({@link RefusalLog}, rate-limited).
 * A call without an {@code authorization} header passes with no caller, and each service decides
 * what it needs ({@link #requireCaller()}: the CA; xDS serves an unauthenticated stream on the
 * plaintext port, as Istio's 15010 does, and the mTLS port's {@code ClientCertificates} wants a
 * client certificate instead).
 *
 * <p>Authenticators are asked in order (cheap local ones first). Runs where gRPC starts calls (its
 * application executor), so an authenticator may block.
 */
public final class BearerAuthentication implements ServerInterceptor {
  private static final Logger log = LoggerFactory.getLogger(BearerAuthentication.class);
  public static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private static final Context.Key<Caller> CALLER = Context.key("ambientj-caller");
  private static final Context.Key<Status> PROBLEM = Context.key("ambientj-caller-problem");
  private static final Context.Key<String> PEER = Context.key("ambientj-caller-address");
  private static final String BEARER = "Bearer ";
  private static final RefusalLog REFUSALS = new RefusalLog(log);

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
    String peer = describe(call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR));
    Context ctx = Context.current().withValue(PEER, peer);
    if (value == null) {
      ctx = problem(ctx, Status.Code.UNAUTHENTICATED, "no authorization header");
      return Contexts.interceptCall(ctx, call, headers, next);
    }
    Status refusal;
    if (!value.regionMatches(true, 0, BEARER, 0, BEARER.length())) {
      refusal = refusal(Status.Code.UNAUTHENTICATED,
          "the authorization header is not a Bearer token");
    } else {
      String token = value.substring(BEARER.length()).strip();
      Outcome outcome = token.isEmpty()
          ? new Outcome(null, refusal(Status.Code.UNAUTHENTICATED, "the bearer token is empty"))
          : authenticate(token);
      if (outcome.caller() != null) {
        return Contexts.interceptCall(ctx.withValue(CALLER, outcome.caller()), call, headers,
            next);
      }
      refusal = outcome.refusal();
    }
    REFUSALS.refused("refused " + call.getMethodDescriptor().getFullMethodName() + " from "
        + peer + ": " + refusal.getCode() + ": " + refusal.getDescription());
    call.close(refusal, new Metadata());
    return new ServerCall.Listener<>() {};
  }

  /** The {@link Caller} a token proves, or (caller null) the status to refuse the call with. */
  private record Outcome(Caller caller, Status refusal) {}

  private Outcome authenticate(String token) {
    List<String> refusals = new ArrayList<>();
    Status.Code code = Status.Code.UNAUTHENTICATED;
    for (CallerAuthenticator a : authenticators) {
      try {
        Optional<Caller> c = a.authenticate(token);
        if (c.isPresent()) {
          return new Outcome(c.get(), null);
        }
      } catch (CallerAuthenticator.Rejected e) {
        refusals.add(e.getMessage());
        if (e.code() != Status.Code.UNAUTHENTICATED) {
          code = e.code(); // e.g. UNAVAILABLE: the API server did not answer; worth a retry
        }
      }
    }
    return new Outcome(null, refusal(code, refusals.isEmpty()
        ? "the bearer token is not a known node token" : String.join("; ", refusals)));
  }

  private Status refusal(Status.Code code, String what) {
    return Status.fromCode(code).withDescription(what + " (expected " + expected + ")");
  }

  private Context problem(Context ctx, Status.Code code, String what) {
    return ctx.withValue(PROBLEM, refusal(code, what));
  }

  /** How many calls were refused for bad credentials since start (logged or not). */
  public static long refusedCount() {
    return REFUSALS.total();
  }

  /**
   * The address of the current call's caller, for log lines ({@code 10.0.0.7:41234}, or {@code
   * "unknown address"}).
   */
  public static String peer() {
    String p = PEER.get();
    return p == null ? "unknown address" : p;
  }

  private static String describe(SocketAddress a) {
    if (a instanceof InetSocketAddress i && i.getAddress() != null) {
      String host = i.getAddress().getHostAddress();
      return (host.contains(":") ? "[" + host + "]" : host) + ":" + i.getPort();
    }
    return a == null ? "unknown address" : a.toString();
  }

  /** The caller of the current call, if its token was valid. */
  public static Optional<Caller> caller() {
    return Optional.ofNullable(CALLER.get());
  }

  /**
   * The caller of the current call.
   *
   * @throws io.grpc.StatusRuntimeException {@code UNAUTHENTICATED} (the call had no authorization
   *     header; one with a bad token never gets this far), saying what is expected
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
