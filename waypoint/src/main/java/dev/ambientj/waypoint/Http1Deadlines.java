package dev.ambientj.waypoint;

import dev.ambientj.hbone.TunnelChannels;
import dev.ambientj.waypoint.http.HttpMessages;
import dev.ambientj.waypoint.telemetry.RequestLog;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.util.ReferenceCountUtil;

/**
 * The deadlines of one downstream HTTP/1.1 connection (an accepted L7 tunnel), as Envoy's HTTP
 * connection manager has them:
 *
 * <ul>
 *   <li><b>request headers timeout</b> ({@code request_headers_timeout}): from the first byte of a
 *       request until its headers are complete. When it passes the client gets 408 and the
 *       connection is closed (a slow-headers client holds a tunnel no longer than this);
 *   <li><b>idle timeout</b> ({@code idle_timeout}): no request in progress — between the end of a
 *       response and the first byte of the next request, or from the connection's start — for this
 *       long closes the connection in order.
 * </ul>
 *
 * <p>States: IDLE (waiting for a request; idle timer armed) → first byte → HEADERS (headers timer
 * armed) → request head decoded → BUSY (no timer: the request's body, the exchange, the response)
 * → {@link #awaitingRequest()} → IDLE. Bytes that arrive while BUSY (a body, or a pipelined request)
 * start no timer. A zero duration disables that timer.
 *
 * <p>Two handlers share the state: {@link #bytesIn} goes before the HTTP/1.1 codec (it sees the
 * first byte), {@link #headsIn} after it (it sees the decoded head). Both pass every message on
 * untouched. All methods run on the tunnel's event loop.
 */
final class Http1Deadlines {
  private enum State { IDLE, HEADERS, BUSY, CLOSED }

  private final WaypointRuntime rt;
  private final DownstreamInfo info;
  private final long headersNanos;
  private final long idleNanos;
  private Channel channel;
  private State state = State.IDLE;
  private final Deadline deadline = new Deadline();
  /** When the headers phase of the current request began (its first byte), for the access log. */
  private long headersStartMillis;
  private long headersStartNanos;

  Http1Deadlines(WaypointRuntime rt, DownstreamInfo info) {
    this.rt = rt;
    this.info = info;
    this.headersNanos = rt.limits.requestHeadersTimeout().toNanos();
    this.idleNanos = rt.limits.idleTimeout().toNanos();
  }

  /** Before the codec: the first byte of a request arms the headers timer. */
  final ChannelInboundHandlerAdapter bytesIn = new ChannelInboundHandlerAdapter() {
    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
      channel = ctx.channel();
      deadline.arm(channel.eventLoop(), idleNanos, Http1Deadlines.this::onIdle);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (state == State.IDLE && msg instanceof ByteBuf b && b.isReadable()) {
        state = State.HEADERS;
        headersStartMillis = System.currentTimeMillis();
        headersStartNanos = rt.ticker.nanoTime();
        deadline.arm(channel.eventLoop(), headersNanos, Http1Deadlines.this::onHeadersTimeout);
      }
      ctx.fireChannelRead(msg);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      deadline.cancel();
      ctx.fireChannelInactive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
      deadline.cancel();
    }
  };

  /**
   * After the codec: a decoded request head ends the headers phase. Once a deadline has closed the
   * connection nothing more is passed on (the codec would report the cut-off request as malformed).
   */
  final ChannelInboundHandlerAdapter headsIn = new ChannelInboundHandlerAdapter() {
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (state == State.CLOSED) {
        ReferenceCountUtil.release(msg);
        return;
      }
      if (msg instanceof HttpRequest) {
        state = State.BUSY;
        deadline.cancel();
      }
      ctx.fireChannelRead(msg);
    }
  };

  /** Every request received has been answered and the connection reads the next one. */
  void awaitingRequest() {
    if (state == State.BUSY && channel != null) {
      state = State.IDLE;
      deadline.arm(channel.eventLoop(), idleNanos, this::onIdle);
    }
  }

  private void onIdle() {
    if (state != State.IDLE || !channel.isActive()) {
      return;
    }
    state = State.CLOSED;
    rt.limits.stats().idleTimeout();
    TunnelChannels.endThenClose(channel, Waypoint.DELAYED_CLOSE_MILLIS);
  }

  /** 408 and close, as Envoy answers a request whose headers took too long; logged like any answer. */
  private void onHeadersTimeout() {
    if (state != State.HEADERS || !channel.isActive()) {
      return;
    }
    state = State.CLOSED;
    rt.limits.stats().headerTimeout();
    RequestLog log = info.newLog("HTTP/1.1", headersStartMillis, headersStartNanos);
    WaypointConfig cfg = rt.config();
    ServiceBinding binding = cfg == null ? null : cfg.findBinding(info.vip(), info.port());
    log.destinationService = binding == null ? null : binding.service();
    log.responseCode = 408;
    log.detail = "request_header_timeout";
    FullHttpResponse resp = HttpMessages.text(channel.alloc(), 408, "request header timeout");
    resp.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
    log.responseBytes = resp.content().readableBytes();
    log.durationNanos = rt.ticker.nanoTime() - log.startNanos;
    rt.telemetry.record(log);
    // from the tail, through the codec's encoder; then our end, and the close
    channel.writeAndFlush(resp);
    TunnelChannels.endThenClose(channel, Waypoint.DELAYED_CLOSE_MILLIS);
  }
}
