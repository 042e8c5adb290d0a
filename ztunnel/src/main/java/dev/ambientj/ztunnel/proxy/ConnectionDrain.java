package dev.ambientj.ztunnel.proxy;

import dev.ambientj.hbone.TunnelChannels;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.group.ChannelGroup;
import io.netty.handler.codec.http2.DefaultHttp2GoAwayFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.util.AttributeKey;
import io.netty.util.ReferenceCountUtil;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * How ztunnel's shutdown ends what is still open at the drain deadline — gracefully, and so that
 * each connection's access-log line says shutdown ended it.
 *
 * <p>A relay ({@link Relays#start}) is a downstream (the side that opened it: the app's socket on
 * 15001/15080, the tunnel on 15008) and an upstream. {@link #endRelays} first ends the output
 * toward the downstream (TCP FIN, or END_STREAM on a tunnel), which a client takes as the server
 * closing; what the client still sends is relayed, and once it closes its side the relay ends
 * the usual way (its FIN becomes END_STREAM, then the peer's FIN to the app). What the upstream
 * sends after that end cannot reach the client any more and is discarded, not counted. After
 * half of {@code lingerMillis} the output toward the upstream is ended too; what is left after
 * {@code lingerMillis} is closed. Never a TCP RST from this: only a peer that keeps its side open
 * past the linger has its socket closed under it. The access-log line of every relay ended here
 * carries {@link #ERROR} and the response flag {@code DRAIN}.
 *
 * <p>HBONE connections ({@link #goAway}) are told first that the server is going away with a
 * GOAWAY whose last stream id is the maximum: the peer stops opening streams on the connection
 * (and opens a new connection — to the successor) while streams already on their way are still
 * served, so none is refused in flight; the graceful close with the exact last stream id follows.
 *
 * <p>Thread-safe: per-channel work runs on each channel's event loop.
 */
public final class ConnectionDrain {
  /** The access log's error for a connection ended by the drain (Istio's wording, then why). */
  public static final String ERROR = "connection closed due to connection drain: ztunnel is"
      + " shutting down and the drain deadline passed";

  private static final AttributeKey<Channel> UPSTREAM =
      AttributeKey.valueOf(ConnectionDrain.class, "upstream");
  private static final AttributeKey<Channel> DOWNSTREAM =
      AttributeKey.valueOf(ConnectionDrain.class, "downstream");
  private static final AttributeKey<Boolean> ENDED =
      AttributeKey.valueOf(ConnectionDrain.class, "ended");
  private static final String DISCARD = "ztunnel-drain-discard";
  /** The name hbone's {@code Relay} gives its handler. */
  private static final String RELAY_HANDLER = "hbone-relay";

  private ConnectionDrain() {}

  /** A relay ended by the drain; the access log shows its message and the {@code DRAIN} flag. */
  public static final class Ended extends Exception {
    Ended(Throwable cause) {
      super(ERROR, cause, false, false);
    }
  }

  /** Records that {@code downstream} and {@code upstream} are relayed to each other. */
  static void track(Channel downstream, Channel upstream) {
    downstream.attr(UPSTREAM).set(upstream);
    upstream.attr(DOWNSTREAM).set(downstream);
  }

  /** The cause to report for a relay that ended with {@code cause}: {@link Ended} if drained. */
  static Throwable cause(Channel downstream, Throwable cause) {
    return Boolean.TRUE.equals(downstream.attr(ENDED).get()) ? new Ended(cause) : cause;
  }

  /**
   * Ends every relay that has a channel in {@code connections} (see the class comment) and closes
   * the channels of connections not relaying yet. Returns the number of relays ended; their
   * channels are closed within {@code lingerMillis}.
   */
  public static int endRelays(ChannelGroup connections, long lingerMillis) {
    Map<Channel, Channel> relays = new LinkedHashMap<>();
    for (Channel ch : connections) {
      Channel up = ch.attr(UPSTREAM).get();
      Channel down = ch.attr(DOWNSTREAM).get();
      if (up != null) {
        relays.put(ch, up);
      } else if (down != null) {
        relays.put(down, ch);
      } else {
        ch.close(); // still in its handshake or connect: it logs its own line
      }
    }
    relays.forEach((down, up) -> end(down, up, lingerMillis));
    return relays.size();
  }

  private static void end(Channel down, Channel up, long lingerMillis) {
    down.attr(ENDED).set(Boolean.TRUE);
    discardReads(up);
    TunnelChannels.shutdownOutput(down);
    down.eventLoop().schedule(() -> {
      discardReads(down);
      TunnelChannels.shutdownOutput(up);
    }, lingerMillis / 2, TimeUnit.MILLISECONDS);
    down.eventLoop().schedule(() -> {
      down.close();
      up.close();
    }, lingerMillis, TimeUnit.MILLISECONDS);
  }

  /** Puts {@link Discard} in front of the relay's handler: it sees the bytes a tunnel decoded. */
  private static void discardReads(Channel ch) {
    var p = ch.pipeline();
    if (p.get(DISCARD) == null) {
      if (p.get(RELAY_HANDLER) != null) {
        p.addBefore(RELAY_HANDLER, DISCARD, Discard.INSTANCE);
      } else {
        p.addLast(DISCARD, Discard.INSTANCE);
      }
    }
  }

  /**
   * Tells the peer of every HBONE connection in {@code hboneConnections} that this server is going
   * away (GOAWAY, NO_ERROR, last stream id the maximum), so that it opens no more streams on it.
   */
  public static void goAway(ChannelGroup hboneConnections) {
    for (Channel ch : hboneConnections) {
      ch.eventLoop().execute(() -> {
        if (ch.isActive() && ch.pipeline().get(Http2FrameCodec.class) != null) {
          ch.writeAndFlush(new DefaultHttp2GoAwayFrame(Http2Error.NO_ERROR)
              .setExtraStreamIds(Integer.MAX_VALUE));
        }
      });
    }
  }

  /** Drops what a drained relay's side reads: its other side has ended and cannot take it. */
  @ChannelHandler.Sharable
  private static final class Discard extends ChannelInboundHandlerAdapter {
    static final Discard INSTANCE = new Discard();

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof ByteBuf) {
        ReferenceCountUtil.release(msg);
      } else {
        ctx.fireChannelRead(msg);
      }
    }
  }
}
