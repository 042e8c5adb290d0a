package dev.ambientj.waypoint.http;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.util.ReferenceCountUtil;
import java.util.Map;

/**
 * Enforces the request header limit on one downstream HTTP/2 stream, so that an oversized header
 * list is answered like on HTTP/1.1: 431, through the exchange (access log, metrics).
 *
 * <p>Why not the codec's own limit: Netty's HTTP/2 decoder answers a header list over
 * SETTINGS_MAX_HEADER_LIST_SIZE with 431 only while the compressed block is under 1.25 times that
 * size; above it the whole connection fails with GOAWAY, which a client sees as its stream refused
 * and retries (curl five times). So the codec is given a much larger bound (the memory bound of one
 * header block, {@link #CODEC_BOUND}) and this handler enforces the real limit, counted as RFC 9113
 * counts a field section: name + value + 32 bytes per field.
 *
 * <p>Sits before {@code Http2StreamFrameToHttpObjectCodec}. A request over the limit becomes a
 * {@link FullHttpRequest} whose decoder result is a {@link TooLongHttpHeaderException} (the
 * exchange answers 431, as for HTTP/1.1); the stream's later frames are released here.
 */
public final class Http2HeaderListLimit extends ChannelInboundHandlerAdapter {
  /** What the HTTP/2 codec is told to accept: bounds the memory one header block may take. */
  public static final int CODEC_BOUND = 1 << 20;

  private final int limit;
  private boolean headersSeen;
  private boolean refused;

  public Http2HeaderListLimit(int limit) {
    this.limit = limit;
  }

  /** The RFC 9113 size of a header list: name + value + 32 bytes per field. */
  static long size(Http2Headers headers) {
    long n = 0;
    for (Map.Entry<CharSequence, CharSequence> e : headers) {
      n += e.getKey().length() + e.getValue().length() + 32;
    }
    return n;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (refused) {
      ReferenceCountUtil.release(msg);
      return;
    }
    if (msg instanceof Http2HeadersFrame h && !headersSeen) {
      headersSeen = true; // the request's head; trailers come after it has been passed on
      long size = size(h.headers());
      if (size > limit) {
        refused = true;
        Http2Headers headers = h.headers();
        FullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1,
            headers.method() == null ? HttpMethod.GET : HttpMethod.valueOf(headers.method().toString()),
            headers.path() == null ? "/" : headers.path().toString(), Unpooled.EMPTY_BUFFER);
        req.setDecoderResult(DecoderResult.failure(new TooLongHttpHeaderException(
            "HTTP/2 header list of " + size + " bytes is over the limit of " + limit + " bytes")));
        ReferenceCountUtil.release(msg);
        ctx.fireChannelRead(req);
        return;
      }
    }
    ctx.fireChannelRead(msg);
  }
}
