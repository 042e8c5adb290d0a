package dev.ambientj.waypoint;

import dev.ambientj.hbone.TunnelChannels;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayDeque;

/**
 * The downstream end of the L7 pipeline: receives aggregated requests (from an HTTP/1.1
 * connection, or from one HTTP/2 stream) and runs one {@link Exchange} at a time. On HTTP/1.1 a
 * request that arrives while another is in progress (pipelining) waits in order; reading pauses
 * while requests wait. Package-private: installed by {@link L7Initializer}.
 *
 * <p>Half-close (HTTP/1.1): when the client ends its side (END_STREAM on the tunnel, FIN on TCP),
 * the requests already received are answered, then our side is ended and the channel closed — a
 * client that is done must not leave the tunnel open (its ztunnel reports the connection only
 * when it closes).
 *
 * <p>Buffers: each {@link FullHttpRequest} is owned by its exchange (released when it finishes);
 * waiting requests are released if the connection closes.
 */
final class HttpProxyHandler extends ChannelInboundHandlerAdapter {
  private final WaypointRuntime rt;
  private final DownstreamInfo info;
  private final boolean h2;
  private final Http1Deadlines deadlines;
  private final ArrayDeque<FullHttpRequest> waiting = new ArrayDeque<>();
  private ChannelHandlerContext ctx;
  private Exchange current;
  private boolean closed;
  private boolean inputEnded;

  /** @param deadlines the HTTP/1.1 connection's deadlines; null on an HTTP/2 stream */
  HttpProxyHandler(WaypointRuntime rt, DownstreamInfo info, Http1Deadlines deadlines) {
    this.rt = rt;
    this.info = info;
    this.h2 = deadlines == null;
    this.deadlines = deadlines;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (!(msg instanceof FullHttpRequest req)) {
      ReferenceCountUtil.release(msg);
      return;
    }
    if (closed) {
      req.release();
      return;
    }
    if (current != null && !current.isDone()) {
      waiting.add(req);
      ctx.channel().config().setAutoRead(false);
      return;
    }
    run(req);
  }

  private void run(FullHttpRequest req) {
    current = new Exchange(this, ctx, req, info, rt, h2);
    current.start();
  }

  /** Called by the exchange when it has finished (response written or aborted). */
  void exchangeDone(Exchange e, boolean keepAlive) {
    if (e != current) {
      return;
    }
    current = null;
    if (closed || h2) {
      return;
    }
    if (!keepAlive) {
      closed = true;
      drainWaiting();
      return;
    }
    FullHttpRequest next = waiting.poll();
    if (next != null) {
      ctx.executor().execute(() -> {
        if (closed) {
          next.release();
          return;
        }
        run(next);
      });
    } else if (inputEnded) {
      finish();
    } else {
      ctx.channel().config().setAutoRead(true);
      deadlines.awaitingRequest();
    }
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt instanceof ChannelInputShutdownEvent && !h2) {
      inputEnded = true;
      if (!closed && (current == null || current.isDone()) && waiting.isEmpty()) {
        finish();
      }
    }
    ctx.fireUserEventTriggered(evt);
  }

  /** The client is done and every response is out: end our side after them, then close. */
  private void finish() {
    closed = true;
    TunnelChannels.endThenClose(ctx.channel(), Waypoint.DELAYED_CLOSE_MILLIS);
  }

  @Override
  public void channelWritabilityChanged(ChannelHandlerContext ctx) {
    Exchange e = current;
    if (e != null) {
      e.onDownstreamWritable();
    }
    ctx.fireChannelWritabilityChanged();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    closed = true;
    Exchange e = current;
    if (e != null) {
      e.onDownstreamClosed();
    }
    drainWaiting();
    ctx.fireChannelInactive();
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    ctx.close();
  }

  private void drainWaiting() {
    FullHttpRequest r;
    while ((r = waiting.poll()) != null) {
      r.release();
    }
  }
}
