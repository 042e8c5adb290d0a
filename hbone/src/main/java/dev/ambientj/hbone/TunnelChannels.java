package dev.ambientj.hbone;

import dev.ambientj.hbone.identity.SpiffeId;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPromise;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.AttributeKey;
import java.util.Optional;

/**
 * Operations that treat a TCP socket channel and an HBONE tunnel channel alike, so that a relay
 * (or anything else) needs no case analysis.
 */
public final class TunnelChannels {

  /** The verified peer identity, set on the HTTP/2 connection channel after the handshake. */
  static final AttributeKey<SpiffeId> PEER_IDENTITY = AttributeKey.valueOf(TunnelChannels.class, "peerIdentity");

  /** Why an HBONE connection failed, set on the connection channel by whoever saw it first. */
  private static final AttributeKey<Throwable> CONNECTION_FAILURE =
      AttributeKey.valueOf(TunnelChannels.class, "connectionFailure");

  private TunnelChannels() {}

  /** Records why the HBONE connection {@code connection} is failing (the first reason wins). */
  static void recordConnectionFailure(Channel connection, Throwable cause) {
    if (connection != null && cause != null) {
      connection.attr(CONNECTION_FAILURE).setIfAbsent(cause);
    }
  }

  /**
   * The error of a tunnel that closed before its peer ended it (no END_STREAM) and without a reset
   * of its own: its HBONE connection closed under it. Names the connection's failure when known.
   */
  static HboneException cutShort(Channel tunnel) {
    Channel connection = tunnel.parent();
    Throwable why = connection == null ? null : connection.attr(CONNECTION_FAILURE).get();
    String peer = connection == null ? "?" : HboneException.addr(connection.remoteAddress());
    return new HboneException(HboneException.Kind.CONNECTION_CLOSED,
        "tunnel cut short: the HBONE connection with " + peer + " closed before the stream ended"
            + (why == null ? "" : " (" + describe(why) + ")"), why);
  }

  private static String describe(Throwable t) {
    String m = t.getMessage();
    return m == null ? t.getClass().getSimpleName() : m;
  }

  /**
   * Ends the output after everything written so far: END_STREAM on a tunnel, a TCP FIN
   * ({@link DuplexChannel#shutdownOutput()}) on a socket, a close on any other channel. May be
   * called from any thread. The returned future completes when the end has been sent.
   */
  public static ChannelFuture shutdownOutput(Channel ch) {
    if (isTunnel(ch)) {
      if (isOutputShutdown(ch)) {
        return ch.newSucceededFuture();
      }
      return ch.writeAndFlush(new DefaultHttp2DataFrame(true));
    }
    ChannelPromise done = ch.newPromise();
    // Pending writes would be failed by shutdownOutput; a flushed empty write completes after them.
    ch.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(f -> {
      if (ch instanceof DuplexChannel duplex) {
        if (duplex.isOutputShutdown()) {
          done.trySuccess();
        } else {
          duplex.shutdownOutput(done);
        }
      } else {
        ch.close(done);
      }
    });
    return done;
  }

  /**
   * Ends the output after what was written ({@link #shutdownOutput}), then closes once the peer has
   * ended its side too, or after {@code lingerMillis} at the latest — Envoy's "delayed close" for a
   * server that answers and hangs up. Closing at once would reset a tunnel (RST_STREAM CANCEL while
   * the peer's side is open), and the peer's ztunnel would reset its client's socket, whose kernel
   * then drops the response the client has not read yet. Reading stays on meanwhile so the peer's
   * end is seen. May be called from any thread.
   */
  public static void endThenClose(Channel ch, long lingerMillis) {
    closeAfterPeerEnds(ch, shutdownOutput(ch), lingerMillis);
  }

  /**
   * Once {@code ended} (our end of {@code ch}'s output) is through, closes {@code ch} when the peer
   * has ended too — a tunnel closes by itself then; a half-closed socket at once — or after
   * {@code lingerMillis} at the latest. Closing a tunnel here even after the peer's END_STREAM can
   * race the stream's own close and send RST_STREAM, so a tunnel is left to close itself.
   */
  public static void closeAfterPeerEnds(Channel ch, ChannelFuture ended, long lingerMillis) {
    ended.addListener(f -> {
      if (!f.isSuccess() || !ch.isActive() || (!isTunnel(ch) && isInputShutdown(ch))) {
        ch.close();
        return;
      }
      var timer = ch.eventLoop().schedule(() -> {
        ch.close();
      }, lingerMillis, java.util.concurrent.TimeUnit.MILLISECONDS);
      ch.closeFuture().addListener(x -> timer.cancel(false));
      ch.config().setAutoRead(true);
      ch.read();
    });
  }

  /**
   * Closes abortively: RST_STREAM (CANCEL) on a tunnel, TCP RST (SO_LINGER 0) on a socket.
   */
  public static ChannelFuture reset(Channel ch) {
    if (!isTunnel(ch) && ch.isActive()) {
      try {
        ch.config().setOption(ChannelOption.SO_LINGER, 0);
      } catch (RuntimeException ignored) {
        // not every transport supports SO_LINGER; a plain close then
      }
    }
    return ch.close(); // a stream channel sends RST_STREAM(CANCEL) when closed while open
  }

  /** Whether {@code ch} is an HBONE tunnel (an accepted or connected CONNECT stream). */
  public static boolean isTunnel(Channel ch) {
    return ch instanceof Http2StreamChannel && ch.pipeline().get(TunnelStreamCodec.class) != null;
  }

  /** Whether the peer has ended its side (FIN / END_STREAM). */
  public static boolean isInputShutdown(Channel ch) {
    if (ch instanceof Http2StreamChannel) {
      TunnelStreamCodec codec = ch.pipeline().get(TunnelStreamCodec.class);
      return codec != null && codec.isInputShutdown();
    }
    return ch instanceof DuplexChannel d && d.isInputShutdown();
  }

  /** Whether we have ended our side (FIN / END_STREAM sent or queued). */
  public static boolean isOutputShutdown(Channel ch) {
    if (ch instanceof Http2StreamChannel) {
      TunnelStreamCodec codec = ch.pipeline().get(TunnelStreamCodec.class);
      return codec != null && codec.isOutputShutdown();
    }
    return ch instanceof DuplexChannel d && d.isOutputShutdown();
  }

  /**
   * The verified SPIFFE id of the peer of the HBONE connection carrying {@code ch} (a tunnel or
   * the connection itself), taken from its certificate during the handshake.
   */
  public static Optional<SpiffeId> peerIdentity(Channel ch) {
    for (Channel c = ch; c != null; c = c.parent()) {
      SpiffeId id = c.attr(PEER_IDENTITY).get();
      if (id != null) {
        return Optional.of(id);
      }
    }
    return Optional.empty();
  }
}
