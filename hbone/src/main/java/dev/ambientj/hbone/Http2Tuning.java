package dev.ambientj.hbone;

import io.netty.channel.Channel;
import io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame;
import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.handler.codec.http2.Http2Settings;

/** HTTP/2 settings shared by both sides, and the connection-window bump. */
final class Http2Tuning {

  /**
   * Write buffer water marks of a tunnel stream channel. A stream channel counts a write as pending
   * until the HTTP/2 codec has written it to the socket, so Netty's default (32/64 KiB) lets only
   * one 64 KiB chunk be in flight per stream and a relay stalls between chunks. 256 KiB/1 MiB keeps
   * the pipe full; the flow-control window and the connection's own writability still bound what a
   * stream may queue (a stream is unwritable when either is exhausted).
   */
  static final io.netty.channel.WriteBufferWaterMark STREAM_WATER_MARK =
      new io.netty.channel.WriteBufferWaterMark(256 << 10, 1 << 20);

  /**
   * Write buffer water marks of the HTTP/2 connection channel. Netty's remote flow controller
   * writes at most {@code bytesBeforeUnwritable()} per flush, so the default 64 KiB high mark
   * chops a fast stream into 64 KiB bursts, each waiting for a writability event; ztunnel lets
   * 400 KiB (server) to a window (client) queue per connection.
   */
  static final io.netty.channel.WriteBufferWaterMark CONNECTION_WATER_MARK =
      new io.netty.channel.WriteBufferWaterMark(512 << 10, 1 << 20);

  /**
   * RST_STREAM frames a peer may send within {@link #RESET_WINDOW_SECONDS} before the connection is
   * closed with ENHANCE_YOUR_CALM (the HTTP/2 "rapid reset" guard). Netty's server default, 200 per
   * 30 s, is sized for one client's connection; an HBONE connection carries every tunnel between
   * two nodes, and every client that aborts its TCP connection becomes one RST_STREAM — seven
   * aborts a second would have reset all tunnels between the two nodes. 1,000 a second on average
   * is above the connection rate one ztunnel sustains (bench: under 1,000 new connections/s), and
   * still stops a peer that opens and resets streams as fast as it can write.
   */
  static final int RESETS_RECEIVED_PER_WINDOW = 10_000;

  static final int RESET_WINDOW_SECONDS = 10;

  private Http2Tuning() {}

  /**
   * A frame codec builder for an HBONE connection, client or server: the RST_STREAM limits below and
   * a connection window that is <b>replenished as DATA arrives</b>, while each stream's window is
   * returned only as its own reader consumes.
   *
   * <p>Why: with Netty's default every byte held for a stream also holds the connection window until
   * that stream's reader takes it, so four readers that stop reading (4 MiB stream windows, a 16
   * MiB connection window) stopped every other tunnel between the two nodes. Here a stalled stream
   * holds at most its own window; the price is that a connection may buffer up to (open streams ×
   * stream window), which {@link StreamReceiveBudget} bounds.
   */
  static io.netty.handler.codec.http2.Http2FrameCodecBuilder tunnelCodecBuilder(boolean server) {
    return withResetLimits(new TunnelCodecBuilder(server));
  }

  /** Exists to reach the builder's protected {@code connection(...)}: Netty has no public setter. */
  private static final class TunnelCodecBuilder extends io.netty.handler.codec.http2.Http2FrameCodecBuilder {
    TunnelCodecBuilder(boolean server) {
      io.netty.handler.codec.http2.DefaultHttp2Connection connection =
          new io.netty.handler.codec.http2.DefaultHttp2Connection(server);
      connection.local().flowController(new io.netty.handler.codec.http2.DefaultHttp2LocalFlowController(
          connection, io.netty.handler.codec.http2.DefaultHttp2LocalFlowController.DEFAULT_WINDOW_UPDATE_RATIO,
          true));
      connection(connection);
    }
  }

  /**
   * Applies the RST_STREAM limits to a codec builder, client or server alike.
   *
   * <p>Received: {@link #RESETS_RECEIVED_PER_WINDOW}. Sent: no limit. Netty limits the RST_STREAMs
   * a server sends (200 per 30 s; its guard against a peer provoking resets) — and it sends one for
   * every DATA frame that arrives for a stream it has already reset and forgotten: a tunnel whose
   * upstream resets while the client uploads gets one per frame of the window still in flight
   * (256 with a 4 MiB window in 16 KiB frames). Two iperf3 uploads whose server hung up were
   * enough for Netty to close the connection with every other tunnel on it. Those RST_STREAMs
   * are a 13-byte answer to a frame of at least 9 bytes the peer had to send, within windows we
   * granted: nothing to amplify, so no limit.
   */
  static io.netty.handler.codec.http2.Http2FrameCodecBuilder withResetLimits(
      io.netty.handler.codec.http2.Http2FrameCodecBuilder builder) {
    return builder
        .decoderEnforceMaxRstFramesPerWindow(RESETS_RECEIVED_PER_WINDOW, RESET_WINDOW_SECONDS)
        .encoderEnforceMaxRstFramesPerWindow(0, 0);
  }

  static void check(int streamWindow, int connectionWindow, int maxFrame) {
    if (streamWindow < Http2CodecUtil.DEFAULT_WINDOW_SIZE || streamWindow > Http2CodecUtil.MAX_INITIAL_WINDOW_SIZE) {
      throw new IllegalArgumentException("stream window " + streamWindow + " out of range (65535..2^31-1)");
    }
    if (connectionWindow < Http2CodecUtil.DEFAULT_WINDOW_SIZE) {
      throw new IllegalArgumentException("connection window " + connectionWindow + " below the HTTP/2 minimum 65535");
    }
    if (maxFrame < Http2CodecUtil.MAX_FRAME_SIZE_LOWER_BOUND || maxFrame > Http2CodecUtil.MAX_FRAME_SIZE_UPPER_BOUND) {
      throw new IllegalArgumentException("max frame size " + maxFrame + " out of range (16384..16777215)");
    }
  }

  static Http2Settings settings(int streamWindow, int maxFrame, int maxHeaderList, Integer maxConcurrentStreams) {
    Http2Settings s = new Http2Settings()
        .initialWindowSize(streamWindow)
        .maxFrameSize(maxFrame)
        .maxHeaderListSize(maxHeaderList);
    if (maxConcurrentStreams != null) {
      s.maxConcurrentStreams(maxConcurrentStreams);
    } else {
      s.pushEnabled(false);
    }
    return s;
  }

  /**
   * The connection window is not a SETTINGS value: it starts at 65535 and grows only with a
   * WINDOW_UPDATE on stream 0, which Http2FrameCodec sends for a stream-less window update frame.
   */
  static void growConnectionWindow(Channel ch, int connectionWindow) {
    int delta = connectionWindow - Http2CodecUtil.DEFAULT_WINDOW_SIZE;
    if (delta > 0) {
      ch.writeAndFlush(new DefaultHttp2WindowUpdateFrame(delta));
    }
  }
}
