package dev.ambientj.launcher.demo;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * HTTP/1.1 with keep-alive over one SOCKS5 connection (blocking, for the demo and tests): many
 * requests through one ztunnel outbound connection, so a split or a rate limit can be measured
 * over thousands of requests quickly. Bodies are read by {@code Content-Length} or chunked
 * encoding; a response that says {@code Connection: close} ends the connection ({@link #isOpen}).
 * Not thread-safe: one request at a time.
 */
public final class HttpOverSocks implements AutoCloseable {

  /** A response; header names are lower case. */
  public record Response(int status, Map<String, String> headers, String body, long nanos) {
    public String header(String name) {
      return headers.get(name.toLowerCase(Locale.ROOT));
    }
  }

  private final Socket socket;
  private final OutputStream out;
  private final InputStream in;
  private final String hostHeader;
  private boolean open = true;

  private HttpOverSocks(Socket socket, String hostHeader) throws IOException {
    this.socket = socket;
    this.out = socket.getOutputStream();
    this.in = new BufferedInputStream(socket.getInputStream(), 16 * 1024);
    this.hostHeader = hostHeader;
  }

  /** Connects through the SOCKS5 {@code proxy} to {@code host:port}. */
  public static HttpOverSocks open(InetSocketAddress proxy, String host, int port, Duration timeout)
      throws IOException {
    return new HttpOverSocks(Socks5Client.connect(proxy, host, port, timeout), host + ":" + port);
  }

  /** As {@link #open(InetSocketAddress, String, int, Duration)}, from {@code localAddress} (a pod's). */
  public static HttpOverSocks open(InetSocketAddress proxy, String host, int port, Duration timeout,
      java.net.InetAddress localAddress) throws IOException {
    return new HttpOverSocks(Socks5Client.connect(proxy, host, port, timeout, 0, localAddress), host + ":" + port);
  }

  /** Whether another request may be sent (the server did not ask to close). */
  public boolean isOpen() {
    return open;
  }

  /** Sends {@code GET path} with {@code headers} and reads the whole response. */
  public Response get(String path, Map<String, String> headers) throws IOException {
    if (!open) {
      throw new IOException("the connection was closed by the server");
    }
    StringBuilder req = new StringBuilder(128).append("GET ").append(path).append(" HTTP/1.1\r\nHost: ")
        .append(hostHeader).append("\r\nUser-Agent: ambientj-demo\r\n");
    headers.forEach((k, v) -> req.append(k).append(": ").append(v).append("\r\n"));
    req.append("\r\n");
    long start = System.nanoTime();
    out.write(req.toString().getBytes(StandardCharsets.US_ASCII));
    out.flush();
    String status = line();
    if (!status.startsWith("HTTP/1.") || status.length() < 12) {
      throw new IOException("not an HTTP/1.x response: " + status);
    }
    int code = Integer.parseInt(status.substring(9, 12));
    Map<String, String> h = new LinkedHashMap<>();
    for (String l = line(); !l.isEmpty(); l = line()) {
      int colon = l.indexOf(':');
      if (colon > 0) {
        h.put(l.substring(0, colon).trim().toLowerCase(Locale.ROOT), l.substring(colon + 1).trim());
      }
    }
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    if ("chunked".equalsIgnoreCase(h.get("transfer-encoding"))) {
      for (int size = Integer.parseInt(line().split(";")[0].trim(), 16); size > 0;
          size = Integer.parseInt(line().split(";")[0].trim(), 16)) {
        body.write(in.readNBytes(size));
        line();
      }
      while (!line().isEmpty()) {
        // trailers
      }
    } else if (h.containsKey("content-length")) {
      int n = Integer.parseInt(h.get("content-length"));
      byte[] b = in.readNBytes(n);
      if (b.length < n) {
        throw new EOFException("response body cut short: " + b.length + " of " + n + " bytes");
      }
      body.write(b);
    } else {
      body.write(in.readAllBytes());
      open = false;
    }
    if ("close".equalsIgnoreCase(h.get("connection"))) {
      open = false;
    }
    return new Response(code, h, body.toString(StandardCharsets.UTF_8), System.nanoTime() - start);
  }

  private String line() throws IOException {
    StringBuilder b = new StringBuilder(64);
    for (int c = in.read(); c != '\n'; c = in.read()) {
      if (c < 0) {
        open = false;
        throw new EOFException("connection closed mid-response");
      }
      if (c != '\r') {
        b.append((char) c);
      }
    }
    return b.toString();
  }

  @Override
  public void close() throws IOException {
    open = false;
    socket.close();
  }
}
