package dev.ambientj.it;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * A TCP echo that keeps, per connection, what it saw: the connection's name (its first line),
 * bytes echoed, and how the client's side ended — {@code FIN} (end of stream) or {@code RST}
 * (connection reset). It closes its side when the client's ends. Blocking sockets on virtual
 * threads: the app behind a pod, as plain as it gets.
 */
final class CountingEchoServer implements AutoCloseable {
  /** What one connection saw; {@code ending} is null while it is open. */
  record Tally(String name, long bytes, String ending) {}

  private final ServerSocket server;
  private final ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
  private final Map<String, Tally> tallies = new ConcurrentHashMap<>();

  private CountingEchoServer(ServerSocket server) {
    this.server = server;
    threads.execute(this::acceptLoop);
  }

  static CountingEchoServer start(InetSocketAddress address) throws IOException {
    ServerSocket s = new ServerSocket();
    s.setReuseAddress(true);
    s.bind(address, 1024);
    return new CountingEchoServer(s);
  }

  /** The tally of the connection whose first line was {@code name}, or null. */
  Tally tally(String name) {
    return tallies.get(name);
  }

  private void acceptLoop() {
    while (!server.isClosed()) {
      try {
        Socket s = server.accept();
        threads.execute(() -> serve(s));
      } catch (IOException e) {
        if (server.isClosed()) {
          return;
        }
      }
    }
  }

  private void serve(Socket s) {
    StringBuilder name = new StringBuilder();
    boolean named = false;
    long bytes = 0;
    String ending;
    try (s) {
      InputStream in = s.getInputStream();
      OutputStream out = s.getOutputStream();
      byte[] buf = new byte[8192];
      while (true) {
        int n = in.read(buf);
        if (n < 0) {
          ending = "FIN";
          break;
        }
        for (int i = 0; i < n && !named; i++) {
          if (buf[i] == '\n') {
            named = true;
          } else {
            name.append((char) buf[i]);
          }
        }
        out.write(buf, 0, n);
        out.flush();
        bytes += n;
        if (named) {
          tallies.put(name.toString(), new Tally(name.toString(), bytes, null));
        }
      }
    } catch (SocketException e) {
      ending = e.getMessage() != null && e.getMessage().contains("reset") ? "RST"
          : "error: " + e.getMessage();
    } catch (IOException e) {
      ending = "error: " + e.getMessage();
    }
    if (named) {
      tallies.put(name.toString(), new Tally(name.toString(), bytes, ending));
    }
  }

  @Override
  public void close() throws IOException {
    server.close();
    threads.shutdownNow();
  }
}
