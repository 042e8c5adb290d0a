package dev.ambientj.ztunnel.proxy;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayDeque;

/**
 * Holds what a TCP channel reads before its relay exists (while the other side connects), then
 * hands the bytes to the other side just before the relay starts ({@link #flushTo}).
 *
 * <p>Why not auto-read off until the relay starts: with Netty 4.2.18's epoll transport, a peer
 * that sends data and FIN while auto-read is off still gets read (the RDHUP path reads regardless),
 * with no handler to take the bytes. Clients that write a request and half-close
 * at once (and servers that answer and close) are common, so early bytes are held here instead.
 *
 * <p>Bound: past {@link #LIMIT} held bytes, auto-read is switched off (back-pressure on a client
 * that pipelines that much before the upstream exists).
 *
 * <p>Buffers: held buffers are owned here until replayed (ownership passes down the pipeline) or
 * released when the handler leaves the pipeline unreplayed (e.g. the connection failed).
 *
 * <p>Threading: the channel's event loop only.
 */
public final class EarlyDataBuffer extends ChannelInboundHandlerAdapter {
  static final String NAME = "ztunnel-early-data";
  static final int LIMIT = 64 * 1024;

  private final ArrayDeque<Object> held = new ArrayDeque<>();
  private int bytes;

  /** Adds a buffer at the end of {@code ch}'s pipeline. */
  public static void install(Channel ch) {
    ch.pipeline().addLast(NAME, new EarlyDataBuffer());
  }

  /** Adds a buffer before the handler named {@code name}. */
  public static void installBefore(Channel ch, String name) {
    ch.pipeline().addBefore(name, NAME, new EarlyDataBuffer());
  }

  /**
   * Writes what {@code source} read early to {@code peer} (ownership of the buffers passes to the
   * write) and removes the buffer; returns the byte count. A held half-close is dropped: the relay
   * sees it on the channel ({@code isInputShutdown}) when it starts, and ends {@code peer}'s output
   * after these writes. No-op (0) on a channel without a buffer. Call on {@code source}'s event loop
   * just before the relay starts, so these bytes precede everything it relays.
   */
  static long flushTo(Channel source, Channel peer) {
    ChannelHandlerContext ctx = source.pipeline().context(NAME);
    if (ctx == null) {
      return 0;
    }
    EarlyDataBuffer self = (EarlyDataBuffer) ctx.handler();
    long total = 0;
    for (Object o = self.held.poll(); o != null; o = self.held.poll()) {
      if (o instanceof ByteBuf buf) {
        total += buf.readableBytes();
        // not the void promise: a peer already gone (a tunnel stream reset while connecting)
        // would fire the failure down a pipeline whose relay is not there yet to handle it; the
        // relay, started next, finds the peer closed and ends the connection with the reason
        peer.write(buf);
      }
    }
    if (total > 0) {
      peer.flush();
    }
    self.bytes = 0;
    source.pipeline().remove(self);
    return total;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (!(msg instanceof ByteBuf buf)) {
      ctx.fireChannelRead(msg);
      return;
    }
    held.add(buf);
    bytes += buf.readableBytes();
    if (bytes > LIMIT) {
      ctx.channel().config().setAutoRead(false);
    }
  }

  @Override
  public void channelReadComplete(ChannelHandlerContext ctx) {
    // Swallowed: replayed with the bytes.
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt instanceof ChannelInputShutdownEvent || evt instanceof ChannelInputShutdownReadComplete) {
      held.add(evt);
    } else {
      ctx.fireUserEventTriggered(evt);
    }
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    for (Object o = held.poll(); o != null; o = held.poll()) {
      ReferenceCountUtil.release(o);
    }
  }
}
