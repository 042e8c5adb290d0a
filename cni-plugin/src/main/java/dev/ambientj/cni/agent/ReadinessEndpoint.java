package dev.ambientj.cni.agent;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.Semaphore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node agent's readiness for the kubelet (Istio's CNI agent serves the same on :8000):
 * {@code GET /readyz} answers {@code 200 ready} once the agent serves CNI — the mesh listed from
 * its source, its socket bound, the plugin chained — and {@code 503} with the reason until then
 * (e.g. the Kubernetes API does not answer); {@code GET /healthz} answers 200 while the process
 * lives. Anything else is 404, a request that is not {@code GET} 405.
 *
 * <p>Limits: one request per connection, its head within {@link #READ_DEADLINE} and {@link
 * #MAX_HEAD_BYTES}; at most {@link #MAX_CONNECTIONS} connections at once, a newcomer over that is
 * closed at accept. Threading: a daemon platform thread accepts, each connection is answered on a
 * virtual thread (blocking I/O there; no event loop involved). The status is one volatile field.
 */
public final class ReadinessEndpoint implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ReadinessEndpoint.class);
  /** Istio's CNI agent readiness port. */
  public static final int DEFAULT_PORT = 8000;
  static final Duration READ_DEADLINE = Duration.ofSeconds(5);
  static final int MAX_HEAD_BYTES = 4096;
  static final int MAX_CONNECTIONS = 16;

  private final ServerSocket server;
  private final Semaphore slots = new Semaphore(MAX_CONNECTIONS);
  private final Thread acceptor;
  /** Null when ready, else why not. */
  private volatile String notReady = "starting";

  private ReadinessEndpoint(ServerSocket server) {
    this.server = server;
    this.acceptor = Thread.ofPlatform().daemon().name("cni-agent-readiness").unstarted(this::acceptLoop);
  }

  /** Listens on {@code address} (port 0: any), not ready until {@link #ready}. */
  public static ReadinessEndpoint start(InetSocketAddress address) throws IOException {
    ServerSocket s = new ServerSocket();
    try {
      s.setReuseAddress(true);
      s.bind(address, 64);
    } catch (IOException e) {
      s.close();
      throw new IOException("cannot listen for readiness on " + address.getHostString() + ":"
          + address.getPort() + ": " + e.getMessage(), e);
    }
    ReadinessEndpoint r = new ReadinessEndpoint(s);
    r.acceptor.start();
    return r;
  }

  public InetSocketAddress address() {
    return (InetSocketAddress) server.getLocalSocketAddress();
  }

  /** From now on {@code /readyz} answers 503 with {@code reason}. */
  public void notReady(String reason) {
    this.notReady = reason;
  }

  /** From now on {@code /readyz} answers 200. */
  public void ready() {
    this.notReady = null;
  }

  /** Null when ready, else the reason {@code /readyz} gives. */
  public String notReadyReason() {
    return notReady;
  }

  private void acceptLoop() {
    while (!server.isClosed()) {
      Socket s;
      try {
        s = server.accept();
      } catch (IOException e) {
        if (!server.isClosed()) {
          log.warn("readiness endpoint: accept failed: {}", e.getMessage());
        }
        continue;
      }
      if (!slots.tryAcquire()) {
        closeQuietly(s);
        continue;
      }
      Thread.ofVirtual().name("cni-agent-readiness-conn").start(() -> {
        try {
          answer(s);
        } finally {
          slots.release();
          closeQuietly(s);
        }
      });
    }
  }

  private void answer(Socket s) {
    try {
      s.setSoTimeout((int) READ_DEADLINE.toMillis());
      String line = requestLine(s.getInputStream());
      int status;
      String body;
      String[] parts = line == null ? new String[0] : line.split(" ");
      if (parts.length < 2) {
        status = 400;
        body = "bad request\n";
      } else if (!parts[0].equals("GET")) {
        status = 405;
        body = "only GET\n";
      } else if (parts[1].equals("/readyz")) {
        String why = notReady;
        status = why == null ? 200 : 503;
        body = why == null ? "ready\n" : "not ready: " + why + "\n";
      } else if (parts[1].equals("/healthz")) {
        status = 200;
        body = "ok\n";
      } else {
        status = 404;
        body = "not found: try /readyz\n";
      }
      byte[] payload = body.getBytes(StandardCharsets.UTF_8);
      OutputStream out = s.getOutputStream();
      out.write(("HTTP/1.1 " + status + " " + reason(status) + "\r\nContent-Type: text/plain;"
          + " charset=utf-8\r\nContent-Length: " + payload.length + "\r\nConnection: close\r\n\r\n")
          .getBytes(StandardCharsets.US_ASCII));
      out.write(payload);
      out.flush();
    } catch (IOException e) {
      // the prober went away or missed the deadline: nothing to answer
    }
  }

  /** The request line, once the whole head (up to the blank line) is in; null if it is not. */
  private static String requestLine(InputStream in) throws IOException {
    byte[] head = new byte[MAX_HEAD_BYTES];
    int n = 0;
    while (n < head.length) {
      int r = in.read(head, n, head.length - n);
      if (r < 0) {
        return null;
      }
      n += r;
      String text = new String(head, 0, n, StandardCharsets.ISO_8859_1);
      if (text.contains("\r\n\r\n") || text.contains("\n\n")) {
        int eol = text.indexOf('\n');
        return text.substring(0, eol).strip();
      }
    }
    return null; // head too large
  }

  private static String reason(int status) {
    return switch (status) {
      case 200 -> "OK";
      case 400 -> "Bad Request";
      case 404 -> "Not Found";
      case 405 -> "Method Not Allowed";
      default -> "Service Unavailable";
    };
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException e) {
      // closing anyway
    }
  }

  @Override
  public void close() {
    try {
      server.close();
    } catch (SocketException e) {
      // closed
    } catch (IOException e) {
      log.debug("readiness endpoint: close failed: {}", e.getMessage());
    }
  }
}
