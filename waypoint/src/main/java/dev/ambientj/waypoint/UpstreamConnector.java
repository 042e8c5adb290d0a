package dev.ambientj.waypoint;

import dev.ambientj.hbone.ConnectTarget;
import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import java.util.concurrent.CompletableFuture;

/**
 * Opens the upstream tunnel for one try: in production an HBONE CONNECT to the endpoint's
 * {@code podIP:15008} through the pooled {@link dev.ambientj.hbone.HboneClient}. The channel
 * follows the tunnel contract (ByteBuf in and out, auto-read off until the caller enables it).
 */
@FunctionalInterface
public interface UpstreamConnector {
  /**
   * Opens the tunnel, over a connection living on {@code loop} (the downstream's event loop, so
   * the exchange and its upstream share a thread) where the connector pools per loop.
   */
  CompletableFuture<Channel> connect(ConnectTarget target, EventLoop loop);
}
