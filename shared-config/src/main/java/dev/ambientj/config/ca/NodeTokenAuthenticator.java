package dev.ambientj.config.ca;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Authenticates config-server callers by their node token ({@link NodeTokens}), the credential of
 * the single-machine mode: the caller is the ztunnel of the token's node ({@link
 * Caller#nodeToken}). Used alone it is also the interceptor ({@link BearerAuthentication} with
 * just this authenticator); in Kubernetes mode it sits before the {@link
 * KubernetesTokenAuthenticator}.
 */
public final class NodeTokenAuthenticator implements CallerAuthenticator, ServerInterceptor {
  public static final Metadata.Key<String> AUTHORIZATION = BearerAuthentication.AUTHORIZATION;

  /** What a node-token caller sends, for UNAUTHENTICATED messages. */
  public static final String EXPECTED =
      "'authorization: Bearer <token>' with the token that `mesh config-server` wrote to"
          + " <state-dir>/node-tokens/<node>.token";

  private final NodeTokens tokens;
  private final BearerAuthentication alone;

  public NodeTokenAuthenticator(NodeTokens tokens) {
    this.tokens = Objects.requireNonNull(tokens, "tokens");
    this.alone = new BearerAuthentication(List.of(this), EXPECTED);
  }

  @Override
  public Optional<Caller> authenticate(String token) {
    return tokens.findNode(token).map(Caller::nodeToken);
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(
      ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
    return alone.interceptCall(call, headers, next);
  }

  /** The node of the current call, if its caller is known and runs on a known node. */
  public static Optional<String> callerNode() {
    return BearerAuthentication.caller().map(Caller::node).filter(n -> !n.isEmpty());
  }
}
