package dev.ambientj.waypoint;

import dev.ambientj.hbone.ConnectTarget;
import io.netty.channel.Channel;
import java.util.concurrent.CompletableFuture;

/**
 * Opens the upstream tunnel for one try: in production an HBONE CONNECT to the endpoint's
 * {@code podIP:15008} through the pooled {@link dev.ambientj.hbone.HboneClient}. The channel
 * follows the tunnel contract (ByteBuf in and out, auto-read off until the caller enables it).
 */
@FunctionalInterface
public interface UpstreamConnector {
  CompletableFuture<Channel> connect(ConnectTarget target);
}
