package dev.ambientj.hbone;

import dev.ambientj.hbone.identity.SpiffeId;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One inbound stream until it is answered.
 *
 * <p>States: waiting for HEADERS → (valid CONNECT) handed to the {@link ConnectRequestHandler},
 * auto-read off, DATA kept → {@code accept()}: 200 sent, replaced by {@link TunnelStreamCodec}
 * which receives the kept DATA; or {@code refuse()}: the status with END_STREAM, then RST_STREAM
 * NO_ERROR if the client has not finished (RFC 9113 §8.1), and the stream closes.
 *
 * <p>Before the answer: if the client resets the stream (counted by the {@link
 * ServerConnectionGuard} as a premature reset) or its connection closes, the handler's
 * {@link #onCancel} actions run, so an upstream connect started for it is abandoned; if the
 * handler has not answered within {@link HboneServerConfig#connectTimeout()}, the stream is
 * answered 504 and the actions run too.
 *
 * <p>Buffers: DATA frames received before the answer are owned here and either handed to the
 * codec or released.
 */
final class ServerStreamHandler extends ChannelInboundHandlerAdapter implements ConnectResponder {

  private static final Logger log = LoggerFactory.getLogger(ServerStreamHandler.class);

  private enum State { AWAIT_HEADERS, AWAIT_ANSWER, ANSWERED }

  private final HboneServer server;
  private final ServerConnectionGuard guard;
  private final List<Object> early = new ArrayList<>();
  private final List<Runnable> onCancel = new ArrayList<>();
  private State state = State.AWAIT_HEADERS;
  private ChannelHandlerContext ctx;
  private String authority;
  private ScheduledFuture<?> answerDeadline;

  ServerStreamHandler(HboneServer server, ServerConnectionGuard guard) {
    this.server = server;
    this.guard = guard;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    switch (state) {
      case AWAIT_HEADERS -> {
        if (msg instanceof Http2HeadersFrame h) {
          onHeaders(ctx, h);
        } else {
          ReferenceCountUtil.release(msg);
          if (!(msg instanceof Http2ResetFrame)) {
            ctx.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.PROTOCOL_ERROR));
          }
          ctx.close();
        }
      }
      case AWAIT_ANSWER -> {
        if (msg instanceof Http2DataFrame || msg instanceof Http2HeadersFrame) {
          early.add(msg);
        } else {
          ReferenceCountUtil.release(msg); // a reset: the stream closes; accept() then returns a closed channel
        }
      }
      case ANSWERED -> ReferenceCountUtil.release(msg);
    }
  }

  private void onHeaders(ChannelHandlerContext ctx, Http2HeadersFrame frame) {
    Http2Headers h = frame.headers();
    CharSequence method = h.method();
    CharSequence auth = h.authority();
    if (method == null || !"CONNECT".contentEquals(method)) {
      respond(400, "method " + method + " is not allowed; HBONE accepts CONNECT only");
      return;
    }
    HostAndPort target;
    try {
      authority = auth == null ? null : auth.toString();
      target = HostAndPort.parse(authority);
    } catch (IllegalArgumentException e) {
      respond(400, e.getMessage());
      return;
    }
    Channel stream = ctx.channel();
    Channel conn = stream.parent();
    SpiffeId peer = conn.attr(TunnelChannels.PEER_IDENTITY).get();
    ConnectRequest request = new ConnectRequest(peer, (InetSocketAddress) conn.remoteAddress(),
        (InetSocketAddress) conn.localAddress(), authority, target, header(h, "baggage"), header(h, "forwarded"),
        header(h, "traceparent"));
    state = State.AWAIT_ANSWER;
    stream.config().setAutoRead(false);
    if (frame.isEndStream()) {
      early.add(frame);
    }
    try {
      server.handler().onConnect(request, this);
    } catch (RuntimeException e) {
      log.warn("CONNECT {} from {}: handler failed", authority, peer, e);
      if (state == State.AWAIT_ANSWER) {
        respond(503, "handler failed: " + e);
      }
    }
    if (state == State.AWAIT_ANSWER) {
      long nanos = server.config().connectTimeout().toNanos();
      answerDeadline = ctx.executor().schedule(() -> answerTimedOut(request, nanos), nanos, TimeUnit.NANOSECONDS);
    }
  }

  private void answerTimedOut(ConnectRequest request, long nanos) {
    answerDeadline = null;
    if (state != State.AWAIT_ANSWER) {
      return;
    }
    String detail = "CONNECT " + authority + " not answered within " + TimeUnit.NANOSECONDS.toMillis(nanos) + " ms";
    cancelled();
    if (state != State.AWAIT_ANSWER) {
      return; // a cancel action answered after all
    }
    respond(504, detail);
    try {
      server.handler().onServerEvent(new HboneServerEvent(HboneServerEvent.Kind.CONNECT_TIMEOUT,
          request.peerAddress(), request.peerIdentity(), detail));
    } catch (RuntimeException e) {
      log.warn("HBONE server event handler failed", e);
    }
  }

  @Override
  public void onCancel(Runnable action) {
    if (ctx.executor().inEventLoop()) {
      addCancel(action);
    } else {
      ctx.executor().execute(() -> addCancel(action));
    }
  }

  private void addCancel(Runnable action) {
    if (state == State.ANSWERED) {
      return;
    }
    if (!ctx.channel().isActive()) {
      action.run();
    } else {
      onCancel.add(action);
    }
  }

  /** The CONNECT went away unanswered: runs the handler's cancel actions (once each). */
  private void cancelled() {
    for (Runnable r : List.copyOf(onCancel)) {
      try {
        r.run();
      } catch (RuntimeException e) {
        log.warn("CONNECT {}: cancel action failed", authority, e);
      }
    }
    onCancel.clear();
  }

  /** Answered (or gone): no deadline, no cancel actions. */
  private void settled() {
    state = State.ANSWERED;
    onCancel.clear();
    if (answerDeadline != null) {
      answerDeadline.cancel(false);
      answerDeadline = null;
    }
  }

  private static String header(Http2Headers h, String name) {
    CharSequence v = h.get(name);
    return v == null ? null : v.toString();
  }

  @Override
  public EventLoop eventLoop() {
    return ctx.channel().eventLoop();
  }

  @Override
  public io.netty.util.concurrent.Future<Void> streamClosed() {
    return ctx.channel().closeFuture();
  }

  @Override
  public Channel accept() {
    Http2StreamChannel stream = (Http2StreamChannel) ctx.channel();
    if (stream.eventLoop().inEventLoop()) {
      doAccept();
    } else {
      stream.eventLoop().execute(this::doAccept);
    }
    return stream;
  }

  private void doAccept() {
    if (state != State.AWAIT_ANSWER) {
      throw new IllegalStateException("CONNECT " + authority + " already answered (" + state + ")");
    }
    settled();
    Channel stream = ctx.channel();
    if (!stream.isActive()) {
      releaseEarly();
      return;
    }
    stream.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200"), false));
    if (ctx.isRemoved()) {
      // The 200 could not be written and its failure closed the stream at once (the connection
      // failed meanwhile, e.g. on a protocol error later in the same read): the pipeline went with
      // this handler, which released the early frames; the caller gets the closed channel.
      return;
    }
    List<Object> frames = new ArrayList<>(early);
    early.clear();
    ctx.pipeline().replace(this, "hbone-tunnel", new TunnelStreamCodec(frames));
    if (stream.config().isAutoRead()) {
      stream.read(); // a relay switched auto-read on before we got here: let the codec hand over what it holds
    }
  }

  @Override
  public void refuse(int status, String reason) {
    if (status < 400 || status > 599) {
      throw new IllegalArgumentException("refusal status must be 4xx or 5xx, got " + status);
    }
    if (ctx.executor().inEventLoop()) {
      respond(status, reason);
    } else {
      ctx.executor().execute(() -> respond(status, reason));
    }
  }

  private void respond(int status, String reason) {
    if (state == State.ANSWERED) {
      throw new IllegalStateException("CONNECT " + authority + " already answered");
    }
    settled();
    releaseEarly();
    Channel stream = ctx.channel();
    log.debug("CONNECT {} on {} refused with {}: {}", authority, stream, status, reason);
    if (!stream.isActive()) {
      return;
    }
    stream.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status(Integer.toString(status)), true))
        .addListener(f -> {
          if (stream.isActive()) {
            // the client may still be sending: ask it to stop without signalling an error
            stream.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.NO_ERROR));
          }
          stream.close();
        });
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt instanceof io.netty.handler.codec.http2.Http2GoAwayFrame g) {
      g.release();
    } else if (evt instanceof Http2ResetFrame) {
      // the stream closes; accept() then returns a closed channel
      if (state == State.AWAIT_ANSWER) {
        guard.prematureReset();
        cancelled();
      }
    } else {
      ctx.fireUserEventTriggered(evt);
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    releaseEarly();
    if (state != State.ANSWERED) {
      cancelled();
    }
    if (answerDeadline != null) {
      answerDeadline.cancel(false);
      answerDeadline = null;
    }
    ctx.fireChannelInactive();
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    releaseEarly();
  }

  private void releaseEarly() {
    early.forEach(ReferenceCountUtil::release);
    early.clear();
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    log.debug("HBONE stream {} error: {}", ctx.channel(), cause.toString());
    ctx.close();
  }
}
