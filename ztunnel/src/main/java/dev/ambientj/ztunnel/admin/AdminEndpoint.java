package dev.ambientj.ztunnel.admin;

import io.netty.handler.codec.http.QueryStringDecoder;

/** One admin path. Called on an event loop: must not block. */
@FunctionalInterface
public interface AdminEndpoint {
  AdminResponse handle(QueryStringDecoder request);
}
