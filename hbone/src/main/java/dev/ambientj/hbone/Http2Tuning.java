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

  private Http2Tuning() {}

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
