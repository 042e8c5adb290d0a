package dev.ambientj.waypoint;

import dev.ambientj.hbone.TunnelChannels;
import io.netty.channel.Channel;
import io.netty.util.concurrent.EventExecutor;
import java.util.concurrent.TimeUnit;

/**
 * How one accepted tunnel takes part in the shutdown drain ({@link DownstreamDrain}), besides the
 * requests on it (which {@link HttpProxyHandler} ends):
 *
 * <ul>
 *   <li>an L7 tunnel that has not said yet which HTTP it speaks is ended in order at the end;
 *   <li>an HTTP/2 connection gets GOAWAY when the drain starts (its codec's graceful close: the
 *       streams in progress go on) and is closed after its streams were ended;
 *   <li>an HTTP/1.1 connection: nothing here;
 *   <li>an L4 relay ({@code upstream} set) is busy until it ends; at the end of the drain both of
 *       its sides are ended in order (END_STREAM, then the close).
 * </ul>
 */
final class TunnelDrain implements DownstreamDrain.Member {
  private final Channel tunnel;
  private final Channel upstream;
  private boolean goAwaySent;

  private TunnelDrain(Channel tunnel, Channel upstream) {
    this.tunnel = tunnel;
    this.upstream = upstream;
  }

  /** Tracks an L7 tunnel ({@code upstream} null) or an L4 relay until it closes. */
  static void track(DownstreamDrain drain, Channel tunnel, Channel upstream) {
    TunnelDrain m = new TunnelDrain(tunnel, upstream);
    drain.add(m);
    tunnel.closeFuture().addListener(f -> drain.remove(m));
  }

  @Override
  public EventExecutor executor() {
    return tunnel.eventLoop();
  }

  @Override
  public void drainStarted() {
    if (!goAwaySent && tunnel.isActive() && tunnel.pipeline().get(L7Initializer.H2) != null) {
      goAwaySent = true;
      tunnel.close(); // the HTTP/2 codec turns it into GOAWAY and waits for the open streams
    }
  }

  @Override
  public boolean busy() {
    return upstream != null && tunnel.isActive();
  }

  @Override
  public void endForShutdown() {
    if (!tunnel.isActive()) {
      return;
    }
    if (upstream != null) {
      TunnelChannels.endThenClose(tunnel, Waypoint.DELAYED_CLOSE_MILLIS);
      TunnelChannels.endThenClose(upstream, Waypoint.DELAYED_CLOSE_MILLIS);
    } else if (tunnel.pipeline().get(L7Initializer.H2) != null) {
      // the streams are being ended by their handlers (tasks queued on this loop now); the codec
      // closes once they are gone — this is the bound if one lingers
      tunnel.eventLoop().schedule(() -> {
        tunnel.close();
      }, Waypoint.DELAYED_CLOSE_MILLIS, TimeUnit.MILLISECONDS);
    } else if (tunnel.pipeline().get("sniff") != null) {
      TunnelChannels.endThenClose(tunnel, Waypoint.DELAYED_CLOSE_MILLIS);
    }
  }
}
