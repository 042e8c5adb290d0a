package dev.ambientj.hbone.admin;

import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.QueryStringDecoder;

/**
 * One admin path. Called on an event loop: must not block.
 *
 * <p>A lambda answers GET (and HEAD); any other method gets 405. An endpoint that acts on POST
 * (as {@code /logging} and {@code /quitquitquit} do) overrides {@link #handle(HttpMethod,
 * QueryStringDecoder)}.
 */
@FunctionalInterface
public interface AdminEndpoint {
  /** The answer to a GET (or HEAD) of this path. */
  AdminResponse handle(QueryStringDecoder request);

  /** The answer to {@code method}: GET and HEAD go to {@link #handle(QueryStringDecoder)}. */
  default AdminResponse handle(HttpMethod method, QueryStringDecoder request) {
    if (method.equals(HttpMethod.GET) || method.equals(HttpMethod.HEAD)) {
      return handle(request);
    }
    return AdminResponse.text(405, "method not allowed: " + request.path() + " takes GET\n");
  }
}
