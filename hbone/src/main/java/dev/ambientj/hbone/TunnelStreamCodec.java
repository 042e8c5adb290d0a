package dev.ambientj.hbone;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;
import io.netty.channel.socket.ChannelOutputShutdownException;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayDeque;
import java.util.List;

/**
 * Turns an HTTP/2 CONNECT stream channel (after the 200) into a byte channel.
 *
 * <p>Inbound: each DATA frame's content is passed on as a {@code ByteBuf} — ownership moves to the
 * next handler, which must release it; empty frames are released here. END_STREAM (on DATA or on
 * trailers) fires {@link ChannelInputShutdownEvent#INSTANCE} then
 * {@link ChannelInputShutdownReadComplete#INSTANCE}, as a half-closed TCP socket does.
 * RST_STREAM (a user event from the multiplexer) fires {@link HboneException} ({@code STREAM_RESET}) through {@code exceptionCaught};
 * the stream channel then closes.
 *
 * <p>Outbound: a {@code ByteBuf} becomes a DATA frame without copying (ownership moves to the
 * HTTP/2 codec, which releases it once written). An END_STREAM DATA frame written by
 * {@link TunnelChannels#shutdownOutput} passes through and marks the output shut down; later
 * {@code ByteBuf} writes are released and failed with {@link ChannelOutputShutdownException}.
 *
 * <p>Holding: until the first {@code read()} reaches this handler, inbound bytes and the end marker
 * are queued here instead of fired, so that a caller can install its handlers (the relay) after
 * the 200 without losing bytes the peer sent straight away. The queue holds at most what arrived
 * in the read batch that carried the 200 (the stream channel has auto-read off meanwhile).
 *
 * <p>Flow control: the stream channel returns window to the peer when a frame is read into this
 * pipeline. With auto-read off (the relay does that when the other side is not writable) frames
 * stay queued in the stream channel, so the peer's window closes — HTTP/2 flow control is the
 * backpressure.
 *
 * <p>Not sharable; all methods run on the stream's event loop.
 */
final class TunnelStreamCodec extends ChannelDuplexHandler {

  private static final Object END = new Object();

  private ArrayDeque<Object> held = new ArrayDeque<>();
  // volatile: read by TunnelChannels from other threads
  private volatile boolean inputShutdown;
  private volatile boolean outputShutdown;

  /** @param early frames received before this handler was installed; ownership moves here. */
  TunnelStreamCodec(List<Object> early) {
    for (Object frame : early) {
      if (frame instanceof Http2DataFrame d) {
        if (d.content().isReadable()) {
          held.add(d.content());
        } else {
          d.release();
        }
        if (d.isEndStream()) {
          held.add(END);
        }
      } else if (frame instanceof Http2HeadersFrame h && h.isEndStream()) {
        held.add(END);
      } else {
        ReferenceCountUtil.release(frame);
      }
    }
  }

  boolean isInputShutdown() {
    return inputShutdown;
  }

  boolean isOutputShutdown() {
    return outputShutdown;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof Http2DataFrame d) {
      boolean end = d.isEndStream();
      ByteBuf content = d.content();
      if (content.isReadable()) {
        deliver(ctx, content);
      } else {
        content.release();
      }
      if (end) {
        deliver(ctx, END);
      }
    } else if (msg instanceof Http2HeadersFrame h) {
      if (h.isEndStream()) {
        deliver(ctx, END);
      }
    } else {
      ReferenceCountUtil.release(msg);
    }
  }

  /** Http2MultiplexHandler delivers RST_STREAM (and GOAWAY for unprocessed streams) as user events. */
  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt instanceof Http2ResetFrame r) {
      releaseHeld();
      ctx.fireExceptionCaught(HboneException.streamReset(ctx.channel().toString(), r.errorCode()));
    } else if (evt instanceof Http2GoAwayFrame g) {
      g.release();
    } else {
      ctx.fireUserEventTriggered(evt);
    }
  }

  private void deliver(ChannelHandlerContext ctx, Object item) {
    if (held != null) {
      held.add(item);
    } else {
      fire(ctx, item);
    }
  }

  private void fire(ChannelHandlerContext ctx, Object item) {
    if (item == END) {
      if (!inputShutdown) {
        inputShutdown = true;
        ctx.fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        ctx.fireUserEventTriggered(ChannelInputShutdownReadComplete.INSTANCE);
      }
    } else {
      ctx.fireChannelRead(item);
    }
  }

  @Override
  public void channelReadComplete(ChannelHandlerContext ctx) {
    if (held == null) {
      ctx.fireChannelReadComplete();
    }
  }

  @Override
  public void read(ChannelHandlerContext ctx) {
    ArrayDeque<Object> queue = held;
    if (queue != null) {
      held = null;
      if (!queue.isEmpty()) {
        for (Object item; (item = queue.poll()) != null; ) {
          fire(ctx, item);
        }
        ctx.fireChannelReadComplete();
      }
    }
    ctx.read();
  }

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
    if (msg instanceof ByteBuf buf) {
      if (outputShutdown) {
        buf.release();
        promise.setFailure(new ChannelOutputShutdownException("tunnel output already ended (END_STREAM sent)"));
        return;
      }
      ctx.write(new DefaultHttp2DataFrame(buf, false), promise);
      return;
    }
    if (msg instanceof Http2DataFrame d && d.isEndStream()) {
      if (outputShutdown) { // a second end: already sent, nothing to do
        d.release();
        promise.setSuccess();
        return;
      }
      outputShutdown = true;
    }
    ctx.write(msg, promise);
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    releaseHeld();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    releaseHeld();
    ctx.fireChannelInactive();
  }

  private void releaseHeld() {
    ArrayDeque<Object> queue = held;
    if (queue != null) {
      for (Object item; (item = queue.poll()) != null; ) {
        if (item != END) {
          ReferenceCountUtil.release(item);
        }
      }
    }
  }
}
