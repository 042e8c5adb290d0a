package dev.ambientj.it;

import dev.ambientj.hbone.transport.Transport;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An HTTP/1.1 "pod" with large answers: {@code GET /bytes/N} streams N bytes of a fixed pattern
 * (byte {@code i} is {@code i % 251}), written only while the connection is writable, so the
 * backend itself holds no more than a chunk per response; any other path gets a short JSON line.
 * {@link #readResponse} reads such a response and checks every byte.
 */
final class BulkHttpBackend implements AutoCloseable {
  /** The pattern's period: a prime, so that a shifted or dropped chunk shows. */
  static final int PERIOD = 251;
  private static final int CHUNK = PERIOD * 256;
  private static final byte[] PATTERN = new byte[CHUNK];

  static {
    for (int i = 0; i < CHUNK; i++) {
      PATTERN[i] = (byte) (i % PERIOD);
    }
  }

  /** Responses this pod has started. */
  final AtomicInteger requests = new AtomicInteger();
  private final String workload;
  private final Channel channel;

  private BulkHttpBackend(String workload, EventLoopGroup group, Transport transport, InetSocketAddress address)
      throws InterruptedException {
    this.workload = workload;
    this.channel = ControllableHttpBackend.serveHttp(group, transport, address, Handler::new);
  }

  static BulkHttpBackend start(Mesh mesh, String workload, int port) throws InterruptedException {
    Mesh.Pod pod = mesh.workload(workload);
    return mesh.own(new BulkHttpBackend(workload, mesh.group(), mesh.transport(),
        new InetSocketAddress(pod.address(), port)));
  }

  @Override
  public void close() {
    channel.close().syncUninterruptibly();
  }

  /** What a client read: the status, the body length it was told, the bytes that matched the pattern. */
  record Read(int status, long contentLength, long patternBytes, String head) {
    boolean complete() {
      return status == 200 && contentLength >= 0 && patternBytes == contentLength;
    }
  }

  /**
   * Reads one response with a {@code Content-Length} from {@code in}, checking the body against the
   * pattern; stops at the first byte that does not match (then {@code patternBytes} is short).
   */
  static Read readResponse(InputStream in) throws IOException {
    StringBuilder head = new StringBuilder();
    int crlf = 0;
    while (crlf < 4) {
      int c = in.read();
      if (c < 0) {
        throw new EOFException("connection closed in the response head: " + head);
      }
      head.append((char) c);
      crlf = (c == '\r' || c == '\n') ? crlf + 1 : 0;
    }
    String h = head.toString();
    int status = Integer.parseInt(h.substring(9, 12));
    long length = -1;
    for (String line : h.split("\r\n")) {
      if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
        length = Long.parseLong(line.substring(15).trim());
      }
    }
    long good = 0;
    byte[] buf = new byte[64 * 1024];
    while (length >= 0 && good < length) {
      int n = in.read(buf, 0, (int) Math.min(buf.length, length - good));
      if (n < 0) {
        break;
      }
      for (int i = 0; i < n; i++) {
        if (buf[i] != (byte) ((good + i) % PERIOD)) {
          return new Read(status, length, good + i, h);
        }
      }
      good += n;
    }
    return new Read(status, length, good, h);
  }

  private final class Handler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private long remaining;
    private long offset;
    private boolean streaming;

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
      requests.incrementAndGet();
      String path = request.uri();
      boolean keepAlive = HttpUtil.isKeepAlive(request);
      if (!path.startsWith("/bytes/")) {
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
            ByteBufUtil.writeUtf8(ctx.alloc(), "{\"workload\":\"" + workload + "\"}\n"));
        HttpUtil.setContentLength(r, r.content().readableBytes());
        HttpUtil.setKeepAlive(r, keepAlive);
        var f = ctx.writeAndFlush(r);
        if (!keepAlive) {
          f.addListener(ChannelFutureListener.CLOSE);
        }
        return;
      }
      long n = Long.parseLong(path.substring("/bytes/".length()));
      HttpResponse r = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
      r.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/octet-stream");
      HttpUtil.setContentLength(r, n);
      HttpUtil.setKeepAlive(r, keepAlive);
      ctx.write(r);
      remaining = n;
      offset = 0;
      streaming = true;
      writeMore(ctx);
    }

    /** Writes chunks while the connection takes them; the rest on the next writability change. */
    private void writeMore(ChannelHandlerContext ctx) {
      while (remaining > 0 && ctx.channel().isWritable()) {
        int from = (int) (offset % CHUNK);
        int len = (int) Math.min(remaining, CHUNK - from);
        ctx.write(new DefaultHttpContent(Unpooled.wrappedBuffer(PATTERN, from, len)));
        remaining -= len;
        offset += len;
      }
      if (remaining == 0 && streaming) {
        streaming = false;
        ctx.write(LastHttpContent.EMPTY_LAST_CONTENT);
      }
      ctx.flush();
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
      if (ctx.channel().isWritable() && streaming) {
        writeMore(ctx);
      }
      ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }

  static String requestLine(String host, String path) {
    return "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: it-bulk\r\n\r\n";
  }

  static byte[] request(String host, String path) {
    return requestLine(host, path).getBytes(StandardCharsets.US_ASCII);
  }
}
