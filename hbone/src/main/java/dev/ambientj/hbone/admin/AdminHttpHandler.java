package dev.ambientj.hbone.admin;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Dispatches aggregated HTTP/1.1 requests to {@link AdminEndpoint}s by path. GET, HEAD and POST
 * reach the endpoint (which answers 405 to a method it does not take); any other method is 405
 * here. An endpoint that throws answers 500 (an admin bug must not close the port).
 *
 * <p>A POST changes the process ({@code /logging}, {@code /quitquitquit}), so it is taken only
 * from the proxy's own host — a loopback address, or the very address the server listens on (the
 * pod's own IP) — as Istio's agent takes {@code /quitquitquit} only from localhost; from anywhere
 * else it is 403. The ports also serve metrics and readiness to the network.
 *
 * <p>Request deadline: a whole request must arrive within {@code requestTimeout} of the connection
 * opening, and on a kept-alive connection of the previous response; otherwise the connection is
 * closed (a client that trickles its headers, or idles, cannot hold one of the few connections).
 *
 * <p>Buffers: the request is released by {@link SimpleChannelInboundHandler}; the response body
 * buffer is owned by the response written to the channel.
 */
final class AdminHttpHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
  private static final Logger log = LoggerFactory.getLogger(AdminHttpHandler.class);

  private final Map<String, AdminEndpoint> endpoints;
  private final Duration requestTimeout;
  private ScheduledFuture<?> deadline;

  AdminHttpHandler(Map<String, AdminEndpoint> endpoints, Duration requestTimeout) {
    this.endpoints = endpoints;
    this.requestTimeout = requestTimeout;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    if (ctx.channel().isActive()) {
      armDeadline(ctx);
    }
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) throws Exception {
    if (deadline == null) {
      armDeadline(ctx);
    }
    super.channelActive(ctx);
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) throws Exception {
    disarmDeadline();
    super.channelInactive(ctx);
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    disarmDeadline();
  }

  private void armDeadline(ChannelHandlerContext ctx) {
    disarmDeadline();
    deadline = ctx.executor().schedule(() -> {
      log.debug("admin client {} sent no complete request within {} ms: closing",
          ctx.channel().remoteAddress(), requestTimeout.toMillis());
      ctx.close();
    }, requestTimeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  private void disarmDeadline() {
    if (deadline != null) {
      deadline.cancel(false);
      deadline = null;
    }
  }

  @Override
  protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
    disarmDeadline();
    QueryStringDecoder query = new QueryStringDecoder(request.uri());
    AdminResponse answer;
    if (!request.decoderResult().isSuccess()) {
      answer = AdminResponse.text(400, "bad request\n");
    } else if (!request.method().equals(HttpMethod.GET) && !request.method().equals(HttpMethod.HEAD)
        && !request.method().equals(HttpMethod.POST)) {
      answer = AdminResponse.text(405, "method not allowed\n");
    } else if (request.method().equals(HttpMethod.POST) && !fromThisHost(ctx)) {
      answer = AdminResponse.text(403, "POST " + query.path() + " is taken only from this host"
          + " (loopback or the address this port listens on), not from "
          + ctx.channel().remoteAddress() + "\n");
    } else {
      AdminEndpoint endpoint = endpoints.get(query.path());
      if (endpoint == null) {
        answer = AdminResponse.text(404, "not found; try " + String.join(", ", endpoints.keySet()) + "\n");
      } else {
        try {
          answer = endpoint.handle(request.method(), query);
        } catch (RuntimeException e) {
          log.warn("admin endpoint {} failed", query.path(), e);
          answer = AdminResponse.text(500, "internal error: " + e + "\n");
        }
      }
    }
    ByteBuf body = request.method().equals(HttpMethod.HEAD)
        ? ctx.alloc().buffer(0)
        : ByteBufUtil.writeUtf8(ctx.alloc(), answer.body());
    FullHttpResponse response = new DefaultFullHttpResponse(
        HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(answer.status()), body);
    response.headers().set(HttpHeaderNames.CONTENT_TYPE, answer.contentType());
    HttpUtil.setContentLength(response, ByteBufUtil.utf8Bytes(answer.body()));
    boolean keepAlive = HttpUtil.isKeepAlive(request);
    HttpUtil.setKeepAlive(response, keepAlive);
    if (keepAlive) {
      ctx.writeAndFlush(response).addListener(f -> {
        if (f.isSuccess() && ctx.channel().isActive()) {
          armDeadline(ctx);
        }
      });
    } else {
      ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
    }
  }

  /** Whether the client connected from a loopback address or from the address it connected to. */
  private static boolean fromThisHost(ChannelHandlerContext ctx) {
    if (!(ctx.channel().remoteAddress() instanceof InetSocketAddress remote)
        || !(ctx.channel().localAddress() instanceof InetSocketAddress local)
        || remote.getAddress() == null) {
      return false;
    }
    return remote.getAddress().isLoopbackAddress() || remote.getAddress().equals(local.getAddress());
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    log.debug("admin connection failed", cause);
    ctx.close();
  }
}
