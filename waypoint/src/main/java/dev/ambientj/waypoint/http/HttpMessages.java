package dev.ambientj.waypoint.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.Map;

/** Local replies and header hygiene shared by the downstream and upstream sides. */
public final class HttpMessages {
  private HttpMessages() {}

  /**
   * A local reply with a text body (Envoy style: {@code no healthy upstream}, ...). The returned
   * message owns a new buffer from {@code alloc}; whoever writes it releases it.
   */
  public static FullHttpResponse text(ByteBufAllocator alloc, int status, String body) {
    byte[] bytes = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
    ByteBuf buf = alloc.buffer(bytes.length).writeBytes(bytes);
    FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(status), buf);
    r.headers().set(HttpHeaderNames.CONTENT_LENGTH, bytes.length);
    if (bytes.length > 0) {
      r.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.TEXT_PLAIN);
    }
    return r;
  }

  /**
   * A gRPC "trailers-only" local reply: HTTP 200, {@code grpc-status} and {@code grpc-message} in
   * the only header block.
   */
  public static FullHttpResponse grpc(ByteBufAllocator alloc, String grpcStatus, String message) {
    FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK, alloc.buffer(0));
    r.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/grpc");
    r.headers().set("grpc-status", grpcStatus);
    if (message != null) {
      r.headers().set("grpc-message", message);
    }
    return r;
  }

  /** The gRPC status for a local HTTP status, per the gRPC HTTP-to-gRPC mapping. */
  public static String grpcStatusFor(int http) {
    return switch (http) {
      case 400 -> "13";
      case 401 -> "16";
      case 403 -> "7";
      case 404 -> "12";
      case 429, 502, 503, 504 -> "14";
      default -> "2";
    };
  }

  /** Removes hop-by-hop headers and Netty's HTTP/2 conversion headers ({@code x-http2-*}). */
  public static void stripHopByHop(HttpHeaders h) {
    String connection = h.get(HttpHeaderNames.CONNECTION);
    if (connection != null) {
      for (String token : connection.split(",")) {
        String t = token.trim();
        if (!t.isEmpty()) {
          h.remove(t);
        }
      }
    }
    h.remove(HttpHeaderNames.CONNECTION);
    h.remove(HttpHeaderNames.KEEP_ALIVE);
    h.remove("proxy-connection");
    h.remove(HttpHeaderNames.UPGRADE);
    h.remove(HttpHeaderNames.TRANSFER_ENCODING);
    h.remove(HttpHeaderNames.PROXY_AUTHENTICATE);
    h.remove(HttpHeaderNames.PROXY_AUTHORIZATION);
    Iterator<Map.Entry<CharSequence, CharSequence>> it = h.iteratorCharSequence();
    java.util.List<String> ext = null;
    while (it.hasNext()) {
      CharSequence name = it.next().getKey();
      if (name.length() > 7 && name.subSequence(0, 7).toString().equalsIgnoreCase("x-http2")) {
        if (ext == null) {
          ext = new java.util.ArrayList<>();
        }
        ext.add(name.toString());
      }
    }
    if (ext != null) {
      ext.forEach(h::remove);
    }
  }
}
