package dev.ambientj.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A TCP relay in front of a server (tests: Fabric8's mock API server) that a test can make
 * unresponsive, as an API server is when it is overloaded, restarting or partitioned away.
 *
 * <p>{@link #blackHole()} cuts every relayed connection (the clients' watches drop) and from then
 * on accepts connections but never answers them — a client's request times out, exactly the
 * "10 s API timeout" of a loaded API server. {@link #resume()} closes the held connections (their
 * requests are stale) and relays again. Each connection is served on virtual threads with
 * blocking I/O.
 */
public final class PausableTcpProxy implements AutoCloseable {
  private final ServerSocket server;
  private final String targetHost;
  private final int targetPort;
  private final List<Socket> open = new CopyOnWriteArrayList<>();
  private final List<Socket> held = new CopyOnWriteArrayList<>();
  private final AtomicInteger accepted = new AtomicInteger();
  private final AtomicInteger heldTotal = new AtomicInteger();
  private volatile boolean blackHole;

  private PausableTcpProxy(ServerSocket server, String targetHost, int targetPort) {
    this.server = server;
    this.targetHost = targetHost;
    this.targetPort = targetPort;
    Thread.ofVirtual().name("pausable-proxy-accept").start(this::acceptLoop);
  }

  /**
   * Relays 127.0.0.1:&lt;any port&gt; to {@code host:port}, trying each of the host's addresses
   * ({@code localhost} may be served on ::1 or 127.0.0.1).
   */
  public static PausableTcpProxy start(String host, int port) throws IOException {
    ServerSocket s = new ServerSocket(0, 128, InetAddress.getLoopbackAddress());
    return new PausableTcpProxy(s, host, port);
  }

  public int port() {
    return server.getLocalPort();
  }

  /** Cuts the relayed connections; new ones are accepted and never answered. */
  public void blackHole() {
    blackHole = true;
    for (Socket s : open) {
      closeQuietly(s);
    }
    open.clear();
  }

  /** Relays again; connections held while black-holed are closed. */
  public void resume() {
    blackHole = false;
    for (Socket s : held) {
      closeQuietly(s);
    }
    held.clear();
  }

  /** Connections accepted while black-holed, in all. */
  public int heldConnections() {
    return heldTotal.get();
  }

  /** Connections accepted in all. */
  public int acceptedConnections() {
    return accepted.get();
  }

  private void acceptLoop() {
    while (!server.isClosed()) {
      Socket in;
      try {
        in = server.accept();
      } catch (IOException e) {
        return;
      }
      accepted.incrementAndGet();
      if (blackHole) {
        held.add(in);
        heldTotal.incrementAndGet();
        continue;
      }
      Thread.ofVirtual().start(() -> relay(in));
    }
  }

  private void relay(Socket in) {
    Socket out = null;
    try {
      for (InetAddress a : InetAddress.getAllByName(targetHost)) {
        Socket attempt = new Socket();
        try {
          attempt.connect(new InetSocketAddress(a, targetPort), 5000);
          out = attempt;
          break;
        } catch (IOException e) {
          closeQuietly(attempt);
        }
      }
    } catch (IOException e) {
      // unknown host: no relay
    }
    if (out == null) {
      closeQuietly(in);
      return;
    }
    Socket upstream = out;
    open.add(in);
    open.add(upstream);
    Thread back = Thread.ofVirtual().start(() -> pump(upstream, in));
    pump(in, upstream);
    try {
      back.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    open.remove(in);
    open.remove(upstream);
  }

  /**
   * Copies {@code from}'s bytes to {@code to} until either side ends, then closes both (blocking:
   * run one per direction, on virtual threads).
   */
  public static void pump(Socket from, Socket to) {
    byte[] buf = new byte[16384];
    try {
      InputStream in = from.getInputStream();
      OutputStream out = to.getOutputStream();
      int n;
      while ((n = in.read(buf)) >= 0) {
        out.write(buf, 0, n);
        out.flush();
      }
    } catch (IOException e) {
      // one side closed
    } finally {
      closeQuietly(from);
      closeQuietly(to);
    }
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
    } catch (IOException e) {
      // closing anyway
    }
    blackHole();
    resume();
  }
}
