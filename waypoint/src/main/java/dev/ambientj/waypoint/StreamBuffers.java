package dev.ambientj.waypoint;

import dev.ambientj.hbone.HboneClientConfig;
import dev.ambientj.hbone.HboneServerConfig;
import io.netty.channel.Channel;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame;
import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.handler.codec.http2.Http2Settings;

/**
 * How much one stream may make the waypoint hold, and the HTTP/2 windows that follow from it.
 *
 * <p><b>Invariants</b> (for every HTTP/2 connection the waypoint receives on: HBONE from ztunnels,
 * HBONE to endpoints, HTTP/2 inside a tunnel to a gRPC endpoint):
 *
 * <ul>
 *   <li>a stream's window is at most {@link #streamBytes()}: a response whose client stopped
 *       reading holds at most that much in the waypoint on its upstream side, plus at most
 *       {@link #streamBytes()} queued toward the client (the tunnel's write high-water mark), after
 *       which the waypoint stops reading the upstream stream;
 *   <li>a connection's window is larger than the windows of all the streams it may carry together
 *       (streams per connection × stream window) plus headroom, so stalled streams can never hold
 *       the whole connection window: the other streams on the connection keep flowing. Netty returns
 *       connection window only as a stream's data is consumed, so this is what keeps streams
 *       isolated. What a connection can make the waypoint hold is bounded by its stream count
 *       times the stream window, not by the connection window.
 * </ul>
 */
record StreamBuffers(int streamBytes) {
  /**
   * Default per-stream bound: Envoy's default per-connection buffer limit is 1 MiB; a 1 MiB window
   * still fills a loopback or in-zone path (a WINDOW_UPDATE every 512 KiB).
   */
  static final int DEFAULT_STREAM_BYTES = 1 << 20;

  /** Stream window of the waypoint's HTTP/2 client inside a tunnel to a gRPC endpoint. */
  static final int INNER_H2_STREAM_WINDOW = Http2CodecUtil.DEFAULT_WINDOW_SIZE;

  StreamBuffers {
    if (streamBytes < Http2CodecUtil.DEFAULT_WINDOW_SIZE) {
      throw new IllegalArgumentException("per-stream buffer " + streamBytes + " bytes is below the HTTP/2 minimum "
          + "window of " + Http2CodecUtil.DEFAULT_WINDOW_SIZE + " bytes");
    }
  }

  /** The HBONE client config for upstream tunnels: {@code base} with isolated, bounded windows. */
  HboneClientConfig upstream(HboneClientConfig base) {
    int stream = Math.min(base.streamWindowSize(), streamBytes);
    int connection = isolatedConnectionWindow(base.maxStreamsPerConnection(), stream, base.connectionWindowSize());
    return new HboneClientConfig(base.maxStreamsPerConnection(), stream, connection, base.maxFrameSize(),
        base.maxHeaderListSize(), base.connectTimeout(), base.handshakeTimeout(), base.responseTimeout(),
        base.idleTimeout(), base.tls12Enabled(), base.tlsProvider());
  }

  /** The HBONE server config for downstream tunnels: {@code base} with isolated, bounded windows. */
  HboneServerConfig downstream(HboneServerConfig base) {
    int stream = Math.min(base.streamWindowSize(), streamBytes);
    int connection = isolatedConnectionWindow(base.maxConcurrentStreams(), stream, base.connectionWindowSize());
    return base.withWindows(stream, connection);
  }

  /** Write high-water mark of an accepted L7 tunnel: above it the response's upstream is not read. */
  WriteBufferWaterMark tunnelWaterMark() {
    return new WriteBufferWaterMark(streamBytes / 2, streamBytes);
  }

  /**
   * Settings of the waypoint's HTTP/2 client inside a tunnel to a gRPC endpoint (up to
   * {@code maxStreams} requests share it): the default 64 KiB stream window.
   */
  static Http2Settings innerH2ClientSettings() {
    return Http2Settings.defaultSettings().initialWindowSize(INNER_H2_STREAM_WINDOW);
  }

  /**
   * Raises the connection window of a new inner HTTP/2 client connection on {@code ch} above what
   * its {@code maxStreams} streams can hold together (it starts at 64 KiB, which one stalled stream
   * would fill).
   */
  static void growInnerConnectionWindow(Channel ch, int maxStreams) {
    int target = isolatedConnectionWindow(maxStreams, INNER_H2_STREAM_WINDOW, 1 << 20);
    ch.writeAndFlush(new DefaultHttp2WindowUpdateFrame(target - Http2CodecUtil.DEFAULT_WINDOW_SIZE));
  }

  /** streams × stream window + headroom, capped at the HTTP/2 maximum. */
  static int isolatedConnectionWindow(int streams, int streamWindow, int headroom) {
    long window = (long) streams * streamWindow + headroom;
    return (int) Math.min(Http2CodecUtil.MAX_INITIAL_WINDOW_SIZE, window);
  }
}
