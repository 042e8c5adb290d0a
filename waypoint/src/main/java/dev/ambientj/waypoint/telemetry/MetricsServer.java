package dev.ambientj.waypoint.telemetry;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/**
 * Serves {@code GET /stats/prometheus} and {@code /metrics} (Prometheus text) and
 * {@code /healthz/ready}, as the waypoint's Envoy does on 15020/15021, and, when given, {@code
 * /config_dump} (JSON: the configuration rejections and warnings in force). One connection, one
 * request.
 */
public final class MetricsServer implements AutoCloseable {
  private final Channel channel;

  private MetricsServer(Channel channel) {
    this.channel = channel;
  }

  public static MetricsServer start(InetSocketAddress address, EventLoopGroup group,
      Class<? extends ServerChannel> channelClass, PrometheusMeterRegistry registry) throws InterruptedException {
    return start(address, group, channelClass, registry, null);
  }

  /** As above, with {@code /config_dump} answered by {@code configDump} (null: not served). */
  public static MetricsServer start(InetSocketAddress address, EventLoopGroup group,
      Class<? extends ServerChannel> channelClass, PrometheusMeterRegistry registry,
      java.util.function.Supplier<String> configDump) throws InterruptedException {
    return start(address, group, channelClass, registry, configDump, () -> true);
  }

  /**
   * As above, with {@code /healthz/ready} answering {@code 200} only while {@code ready} says so
   * ({@code 503} otherwise: not started yet, or draining at shutdown).
   */
  public static MetricsServer start(InetSocketAddress address, EventLoopGroup group,
      Class<? extends ServerChannel> channelClass, PrometheusMeterRegistry registry,
      java.util.function.Supplier<String> configDump, java.util.function.BooleanSupplier ready)
      throws InterruptedException {
    Channel ch = new ServerBootstrap().group(group).channel(channelClass)
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel c) {
            c.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(8192),
                new SimpleChannelInboundHandler<FullHttpRequest>() {
                  @Override
                  protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
                    String path = req.uri();
                    int q = path.indexOf('?');
                    path = q < 0 ? path : path.substring(0, q);
                    FullHttpResponse r;
                    if (path.equals("/stats/prometheus") || path.equals("/metrics")) {
                      r = text(HttpResponseStatus.OK, registry.scrape(), "text/plain; version=0.0.4; charset=utf-8");
                    } else if (configDump != null && path.equals("/config_dump")) {
                      r = text(HttpResponseStatus.OK, configDump.get(), "application/json");
                    } else if (path.equals("/healthz/ready")) {
                      r = ready.getAsBoolean() ? text(HttpResponseStatus.OK, "", "text/plain")
                          : text(HttpResponseStatus.SERVICE_UNAVAILABLE, "not ready\n", "text/plain");
                    } else {
                      r = text(HttpResponseStatus.NOT_FOUND, "not found\n", "text/plain");
                    }
                    ctx.writeAndFlush(r).addListener(ChannelFutureListener.CLOSE);
                  }

                  @Override
                  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                    ctx.close();
                  }
                });
          }
        }).bind(address).sync().channel();
    return new MetricsServer(ch);
  }

  private static FullHttpResponse text(HttpResponseStatus status, String body, String type) {
    byte[] b = body.getBytes(StandardCharsets.UTF_8);
    FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, Unpooled.wrappedBuffer(b));
    r.headers().set(HttpHeaderNames.CONTENT_TYPE, type);
    r.headers().set(HttpHeaderNames.CONTENT_LENGTH, b.length);
    r.headers().set(HttpHeaderNames.CONNECTION, "close");
    return r;
  }

  public InetSocketAddress address() {
    return (InetSocketAddress) channel.localAddress();
  }

  @Override
  public void close() {
    channel.close().awaitUninterruptibly();
  }
}
