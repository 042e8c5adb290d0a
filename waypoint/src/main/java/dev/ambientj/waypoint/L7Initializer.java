package dev.ambientj.waypoint;

import dev.ambientj.waypoint.http.ErrorSink;
import dev.ambientj.waypoint.http.Http2HeaderListLimit;
import dev.ambientj.waypoint.http.ProtocolSniffer;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http2.Http2MultiplexCodec;
import io.netty.handler.codec.http2.Http2MultiplexCodecBuilder;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;

/**
 * Builds the L7 pipeline on an accepted HBONE tunnel: {@link ProtocolSniffer}, then either
 * HTTP/1.1 ({@code HttpServerCodec} with Envoy-like limits: 60 KiB of headers → 431, 16 KiB
 * request line → 414, malformed → 400; {@link Http1Deadlines}) or HTTP/2 with prior knowledge (one
 * child channel per stream, 60 KiB of headers → 431 by {@link Http2HeaderListLimit}, converted to
 * HTTP/1-style objects; {@link Http2IdleTimeout}), each followed by an aggregator and the
 * {@link HttpProxyHandler}. An HTTP/2 connection ends when its client has ended its side and no
 * stream is open ({@link Http2ClientEndHandler}); the codec's own closes end the tunnel in order
 * ({@link GracefulTunnelClose}).
 */
final class L7Initializer implements ProtocolSniffer.Installer {
  static final int MAX_HEADER_BYTES = 60 * 1024;
  static final int MAX_INITIAL_LINE = 16 * 1024;

  private final WaypointRuntime rt;
  private final DownstreamInfo info;

  L7Initializer(WaypointRuntime rt, DownstreamInfo info) {
    this.rt = rt;
    this.info = info;
  }

  /** Keeps the {@link ErrorSink} at the end of the pipeline. */
  private static void sinkLast(ChannelPipeline p) {
    if (p.get("errors") != null) {
      p.remove("errors");
    }
    p.addLast("errors", ErrorSink.INSTANCE);
  }

  @Override
  public void installHttp1(ChannelPipeline p) {
    Http1Deadlines deadlines = new Http1Deadlines(rt, info);
    p.addLast("http1-deadlines", deadlines.bytesIn);
    p.addLast("http1", new HttpServerCodec(new HttpDecoderConfig()
        .setMaxInitialLineLength(MAX_INITIAL_LINE)
        .setMaxHeaderSize(MAX_HEADER_BYTES)
        .setMaxChunkSize(64 * 1024)));
    p.addLast("http1-heads", deadlines.headsIn);
    p.addLast("aggregator", new HttpObjectAggregator(rt.maxRequestBytes));
    p.addLast("proxy", new HttpProxyHandler(rt, info, deadlines));
    sinkLast(p);
  }

  @Override
  public void installHttp2(ChannelPipeline p) {
    // Http2MultiplexCodec, not Http2FrameCodec + Http2MultiplexHandler: the handler decides it is a
    // server by the channel's parent being a ServerChannel, and ours is a tunnel stream, so it took
    // the client's stream 1 for an h2c upgrade and failed the connection ("Client is misconfigured
    // for upgrade requests"). The codec asks its Http2Connection, which forServer() sets.
    @SuppressWarnings("deprecation")
    Http2MultiplexCodec h2 = Http2MultiplexCodecBuilder.forServer(new ChannelInitializer<Http2StreamChannel>() {
      @Override
      protected void initChannel(Http2StreamChannel ch) {
        ch.pipeline().addLast(new Http2HeaderListLimit(MAX_HEADER_BYTES));
        ch.pipeline().addLast(new Http2StreamFrameToHttpObjectCodec(true));
        ch.pipeline().addLast(new HttpObjectAggregator(rt.maxRequestBytes));
        ch.pipeline().addLast(new HttpProxyHandler(rt, info, null));
      }
    }).initialSettings(Http2Settings.defaultSettings().maxConcurrentStreams(100).maxHeaderListSize(Http2HeaderListLimit.CODEC_BOUND))
        .build();
    p.addLast("h2-graceful-close", new GracefulTunnelClose());
    p.addLast("h2", h2);
    p.addLast("h2-client-end", new Http2ClientEndHandler(h2.connection()));
    p.addLast("h2-idle", new Http2IdleTimeout(h2.connection(), rt));
    sinkLast(p);
  }
}
