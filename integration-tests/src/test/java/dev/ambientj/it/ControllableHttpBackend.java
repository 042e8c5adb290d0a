package dev.ambientj.it;

import dev.ambientj.hbone.transport.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An HTTP/1.1 echo "pod" that can be told to misbehave. Every answer is one JSON line naming the
 * workload and its version. What it does depends on the path and on {@link #failing}:
 *
 * <ul>
 *   <li>{@code /flaky…}: every other request to this pod gets 503 (1st 200, 2nd 503, …);
 *   <li>{@code /slow…}: answered after {@link #SLOW_MS} ms (scheduled, never blocking the loop);
 *   <li>anything else: 200, or 500 while {@link #failing} is set.
 * </ul>
 */
final class ControllableHttpBackend implements AutoCloseable {
  static final long SLOW_MS = 1_000;

  final String workload;
  final String version;
  /** Requests this pod received (all paths). */
  final AtomicInteger requests = new AtomicInteger();
  /** Requests to {@code /flaky…}; odd ones succeed, even ones get 503. */
  final AtomicInteger flaky = new AtomicInteger();
  /** While set, ordinary requests get 500. */
  volatile boolean failing;
  /** The headers of every request this pod received, oldest first. */
  final java.util.concurrent.BlockingQueue<io.netty.handler.codec.http.HttpHeaders> headers =
      new java.util.concurrent.LinkedBlockingQueue<>();
  private final Channel channel;

  private ControllableHttpBackend(String workload, String version, EventLoopGroup group,
      Transport transport, InetSocketAddress address) throws InterruptedException {
    this.workload = workload;
    this.version = version;
    this.channel = serveHttp(group, transport, address, Handler::new);
  }

  /** An HTTP/1.1 server on {@code address}: codec, 1 MiB aggregator, then a new {@code handler} per connection. */
  static Channel serveHttp(EventLoopGroup group, Transport transport, InetSocketAddress address,
      java.util.function.Supplier<? extends io.netty.channel.ChannelHandler> handler) throws InterruptedException {
    return new ServerBootstrap()
        .group(group)
        .channel(transport.serverChannelClass())
        .childHandler(new ChannelInitializer<>() {
          @Override
          protected void initChannel(Channel c) {
            c.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(1 << 20), handler.get());
          }
        })
        .bind(address).sync().channel();
  }

  /** A backend on {@code address} outside a {@link Mesh} (e.g. a mesh fed over xDS). */
  static ControllableHttpBackend start(EventLoopGroup group, Transport transport, String workload,
      String version, InetSocketAddress address) throws InterruptedException {
    return new ControllableHttpBackend(workload, version, group, transport, address);
  }

  static ControllableHttpBackend start(Mesh mesh, String workload, int port) throws InterruptedException {
    Mesh.Pod pod = mesh.workload(workload);
    return mesh.own(new ControllableHttpBackend(workload, pod.model.canonicalRevision(), mesh.group(),
        mesh.transport(), new InetSocketAddress(pod.address(), port)));
  }

  @Override
  public void close() {
    channel.close().syncUninterruptibly();
  }

  private final class Handler extends SimpleChannelInboundHandler<FullHttpRequest> {
    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
      requests.incrementAndGet();
      headers.add(request.headers().copy());
      String path = request.uri();
      boolean keepAlive = HttpUtil.isKeepAlive(request);
      if (path.startsWith("/flaky")) {
        respond(ctx, flaky.incrementAndGet() % 2 == 0 ? 503 : 200, path, keepAlive);
      } else if (path.startsWith("/slow")) {
        ctx.executor().schedule(() -> respond(ctx, 200, path, keepAlive), SLOW_MS, TimeUnit.MILLISECONDS);
      } else {
        respond(ctx, failing ? 500 : 200, path, keepAlive);
      }
    }

    private void respond(ChannelHandlerContext ctx, int status, String path, boolean keepAlive) {
      if (!ctx.channel().isActive()) {
        return;
      }
      String body = "{\"workload\":\"" + workload + "\",\"version\":\"" + version + "\",\"status\":" + status
          + ",\"path\":\"" + path.replace("\"", "%22") + "\"}\n";
      ByteBuf content = ByteBufUtil.writeUtf8(ctx.alloc(), body);
      FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
          HttpResponseStatus.valueOf(status), content);
      response.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json");
      HttpUtil.setContentLength(response, content.readableBytes());
      HttpUtil.setKeepAlive(response, keepAlive);
      var write = ctx.writeAndFlush(response);
      if (!keepAlive) {
        write.addListener(ChannelFutureListener.CLOSE);
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }
}
