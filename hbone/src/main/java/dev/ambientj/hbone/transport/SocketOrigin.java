package dev.ambientj.hbone.transport;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.ChannelFuture;
import java.net.SocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Where an outgoing TCP socket is created. {@link #HOST}: right here, in the caller's network
 * namespace — {@code bootstrap.connect(remote)}. ztunnel's in-pod mode supplies one per pod that
 * creates the socket on a thread inside the pod's network namespace (Netty creates a channel's
 * socket in the channel's constructor, i.e. on the thread that calls {@code connect}) and marks it.
 *
 * <p>Identity matters: the HBONE pool keeps connections of different origins apart, so an
 * implementation should compare by identity (one instance per network).
 */
@FunctionalInterface
public interface SocketOrigin {

  /** Connects in the caller's network namespace; completes synchronously. */
  SocketOrigin HOST = new SocketOrigin() {
    @Override
    public CompletionStage<ChannelFuture> connect(Bootstrap bootstrap, SocketAddress remote) {
      return CompletableFuture.completedFuture(bootstrap.connect(remote));
    }

    @Override
    public String toString() {
      return "host";
    }
  };

  /**
   * Creates the channel and starts connecting it. The stage completes with the connect future as
   * soon as the channel exists (possibly on another thread; completed already for {@link #HOST}),
   * or exceptionally when the socket could not be created there. Never blocks the caller.
   */
  CompletionStage<ChannelFuture> connect(Bootstrap bootstrap, SocketAddress remote);
}
