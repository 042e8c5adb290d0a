package dev.ambientj.config.ca;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.util.Objects;
import java.util.Optional;

/**
 * Authenticates config-server callers by their node token ({@link NodeTokens}): reads {@code
 * authorization: Bearer <token>} and records, in the call's {@link Context}, the node the token
 * belongs to or why there is none. It rejects nothing itself; each service decides what it needs
 * ({@link #requireNode()}), so that a later service with another credential can share the server.
 */
public final class NodeTokenAuthenticator implements ServerInterceptor {
  public static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private static final Context.Key<String> NODE = Context.key("ambientj-caller-node");
  private static final Context.Key<String> PROBLEM = Context.key("ambientj-caller-problem");
  private static final String BEARER = "Bearer ";

  private final NodeTokens tokens;

  public NodeTokenAuthenticator(NodeTokens tokens) {
    this.tokens = Objects.requireNonNull(tokens, "tokens");
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(
      ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
    String value = headers.get(AUTHORIZATION);
    Context ctx;
    if (value == null) {
      ctx = Context.current().withValue(PROBLEM, "no authorization header");
    } else if (!value.regionMatches(true, 0, BEARER, 0, BEARER.length())) {
      ctx = Context.current().withValue(PROBLEM, "the authorization header is not a Bearer token");
    } else {
      Optional<String> node = tokens.findNode(value.substring(BEARER.length()).strip());
      ctx =
          node.isPresent()
              ? Context.current().withValue(NODE, node.get())
              : Context.current().withValue(PROBLEM, "the bearer token is not a known node token");
    }
    return Contexts.interceptCall(ctx, call, headers, next);
  }

  /** The node of the current call, if its token was valid. */
  public static Optional<String> callerNode() {
    return Optional.ofNullable(NODE.get());
  }

  /**
   * The node of the current call.
   *
   * @throws io.grpc.StatusRuntimeException {@code UNAUTHENTICATED}, saying what was wrong and what
   *     is expected
   */
  public static String requireNode() {
    String node = NODE.get();
    if (node != null) {
      return node;
    }
    String problem = PROBLEM.get();
    throw Status.UNAUTHENTICATED
        .withDescription(
            (problem == null ? "the call was not authenticated" : problem)
                + " (expected 'authorization: Bearer <token>' with the token that `mesh"
                + " config-server` wrote to <state-dir>/node-tokens/<node>.token)")
        .asRuntimeException();
  }
}
