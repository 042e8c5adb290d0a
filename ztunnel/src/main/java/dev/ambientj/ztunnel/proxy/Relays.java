package dev.ambientj.ztunnel.proxy;

import dev.ambientj.hbone.Relay;
import io.netty.channel.Channel;

/** The one place ztunnel starts hbone's {@link Relay}. */
public final class Relays {
  private Relays() {}

  /** Called once when both sides are closed. */
  @FunctionalInterface
  public interface Done {
    /**
     * @param downstreamToUpstream bytes relayed from the first channel to the second
     * @param upstreamToDownstream bytes relayed back
     * @param cause why it ended abnormally, or null
     */
    void onDone(long downstreamToUpstream, long upstreamToDownstream, Throwable cause);
  }

  /**
   * Relays bytes between {@code downstream} and {@code upstream} until both are done. What either
   * TCP side read before now ({@link EarlyDataBuffer}) is written to the other side first and
   * counted. Call on {@code downstream}'s event loop; a plain TCP upstream shares it.
   */
  public static void start(Channel downstream, Channel upstream, Done done) {
    long earlyUp = EarlyDataBuffer.flushTo(downstream, upstream);
    long earlyDown = upstream.eventLoop().inEventLoop()
        ? EarlyDataBuffer.flushTo(upstream, downstream) : 0;
    ConnectionDrain.track(downstream, upstream);
    Relay.start(downstream, upstream, (aToB, bToA, cause) -> done.onDone(aToB + earlyUp,
        bToA + earlyDown, ConnectionDrain.cause(downstream, cause)));
  }
}
