package dev.ambientj.hbone;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2SettingsFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2FrameStream;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamChannel;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * Bounds what the streams of one HBONE connection can make us buffer, now that the connection
 * window no longer does ({@link Http2Tuning#tunnelCodecBuilder}: it is replenished as DATA
 * arrives, so that a stalled stream cannot stop the others).
 *
 * <p><b>Window budget.</b> What the peer may send us unread is the sum of the stream windows. While
 * (open streams × configured stream window) fits in {@link #budgetBytes()} every stream has the
 * configured window (4 MiB, Istio's); beyond that the initial stream window is lowered, with a
 * SETTINGS frame, to budget ÷ streams (not below {@link #MIN_WINDOW}), and raised again as streams
 * close. HTTP/2 applies a new initial window to open streams as well (RFC 9113 §6.9.2), so the
 * peer's credit on every stream shrinks; what a stalled stream has already received stays until it
 * is read. Without this, 40 stalled readers on one connection took 160 MiB of direct memory and
 * ztunnel (128 MiB) failed the connection with every tunnel on it.
 *
 * <p><b>Compaction.</b> A DATA frame's content is a slice of the buffer TLS decrypted it into,
 * which holds the frames of every stream that arrived in one read, itself carved from an
 * allocator chunk. A stream whose reader has stopped keeps its frames queued, and each one kept
 * that whole buffer alive: with 40 slow readers ztunnel ran out of direct memory while holding
 * about 30 MiB of their data. So the DATA of a stream that is not reading (auto-read off: the
 * relay's backpressure) is copied into an exact-size buffer of its own; streams that read keep
 * the copy-free path.
 *
 * <p>Sits between the HTTP/2 frame codec and the multiplexer. Streams are registered by
 * {@link #track} when their channel is created. Everything runs on the connection's event loop,
 * which is also every stream channel's.
 *
 * <p>Buffers: a copied frame's original content is released here and the copy (unpooled, freed as
 * soon as it is released) travels on in its place; other messages pass through untouched.
 */
final class StreamReceiveBudget extends ChannelInboundHandlerAdapter {

  static final String NAME = "hbone-receive-budget";

  /** The smallest stream window the budget lowers to: below it a stream crawls. */
  static final int MIN_WINDOW = 256 << 10;

  private static final int DEFAULT_BUDGET = 32 << 20;

  /**
   * Receive budget per HBONE connection, in bytes; {@code -Dambientj.hbone.connectionReceiveBudget}
   * overrides the 32 MiB default (ztunnel keeps one connection per peer and event loop, two by
   * default, within its 128 MiB of direct memory).
   */
  static int budgetBytes() {
    return Math.max(MIN_WINDOW, Integer.getInteger("ambientj.hbone.connectionReceiveBudget", DEFAULT_BUDGET));
  }

  private final Map<Http2FrameStream, Channel> streams = new IdentityHashMap<>();
  private final int maxWindow;
  private final int budget;
  private ChannelHandlerContext ctx;
  private int advertisedWindow;

  /** @param streamWindow the configured initial stream window (what the codec's SETTINGS announced) */
  StreamReceiveBudget(int streamWindow) {
    this(streamWindow, budgetBytes());
  }

  StreamReceiveBudget(int streamWindow, int budget) {
    this.maxWindow = streamWindow;
    this.budget = budget;
    this.advertisedWindow = streamWindow;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
  }

  /** Registers a stream channel of this connection (on its event loop); forgotten when it closes. */
  void track(Http2StreamChannel stream) {
    Http2FrameStream key = stream.stream();
    streams.put(key, stream);
    resize();
    stream.closeFuture().addListener(f -> {
      streams.remove(key);
      resize();
    });
  }

  /** Finds the budget of {@code connection}'s pipeline and registers {@code stream} with it. */
  static void track(Channel connection, Http2StreamChannel stream) {
    StreamReceiveBudget b = connection.pipeline().get(StreamReceiveBudget.class);
    if (b != null) {
      b.track(stream);
    }
  }

  /** The initial stream window the budget wants for {@code openStreams} streams. */
  int targetWindow(int openStreams) {
    long perStream = budget / Math.max(1, openStreams);
    return (int) Math.max(Math.min(MIN_WINDOW, maxWindow), Math.min(maxWindow, perStream));
  }

  /** The initial stream window last announced. */
  int advertisedWindow() {
    return advertisedWindow;
  }

  /**
   * Lowers the window as soon as the open streams' windows exceed the budget by half, raises it
   * once it may double: a SETTINGS frame per step, not per stream.
   */
  private void resize() {
    int target = targetWindow(streams.size());
    boolean lower = target < advertisedWindow && (long) advertisedWindow * 2 > (long) target * 3;
    boolean raise = target > advertisedWindow && (target == maxWindow || target >= advertisedWindow * 2L);
    if ((lower || raise) && ctx != null && ctx.channel().isActive()) {
      advertisedWindow = target;
      ctx.writeAndFlush(new DefaultHttp2SettingsFrame(new Http2Settings().initialWindowSize(target)))
          .addListener(f -> {
            if (!f.isSuccess()) {
              ctx.fireExceptionCaught(f.cause());
            }
          });
    }
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof Http2DataFrame d && d.content().isReadable()) {
      Channel stream = streams.get(d.stream());
      if (stream != null && !stream.config().isAutoRead()) {
        ctx.fireChannelRead(compact(d));
        return;
      }
    }
    ctx.fireChannelRead(msg);
  }

  /**
   * A frame like {@code d} whose content is an exact-size copy, releasing {@code d}; or {@code d}
   * itself when no memory is left for the copy (holding the shared buffer is then the lesser harm).
   */
  static Http2DataFrame compact(Http2DataFrame d) {
    ByteBuf content = d.content();
    int n = content.readableBytes();
    ByteBuf copy;
    try {
      copy = UnpooledByteBufAllocator.DEFAULT.directBuffer(n, n);
    } catch (OutOfMemoryError e) {
      return d;
    }
    copy.writeBytes(content, content.readerIndex(), n);
    DefaultHttp2DataFrame out = new DefaultHttp2DataFrame(copy, d.isEndStream(), d.padding());
    out.stream(d.stream());
    d.release();
    return out;
  }
}
