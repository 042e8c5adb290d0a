package dev.ambientj.it;

import dev.ambientj.launcher.demo.Socks5Client;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Traffic through the mesh as an app sends it, counted: a new TCP connection every few
 * milliseconds (each sends its name, reads the echo, closes) and long-lived connections that send
 * a line every {@link #TICK} and read its echo. Each connection goes through the source pod's
 * SOCKS5 listener to {@code host:port}.
 */
final class ConnectionProbe implements AutoCloseable {
  static final Duration TICK = Duration.ofMillis(200);
  private static final Duration TIMEOUT = Duration.ofSeconds(10);

  /** One new connection's outcome: {@code failure} is null when its echo came back whole. */
  record Attempt(int n, long startNanos, long endNanos, String failure) {}

  private final InetSocketAddress socks;
  private final String host;
  private final int port;
  private final String prefix;
  private final ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
  private final ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor();
  private final ConcurrentLinkedQueue<Attempt> attempts = new ConcurrentLinkedQueue<>();
  private final AtomicInteger started = new AtomicInteger();
  private final List<LongLived> longLived = new ArrayList<>();

  ConnectionProbe(InetSocketAddress socks, String host, int port, String prefix) {
    this.socks = socks;
    this.host = host;
    this.port = port;
    this.prefix = prefix;
  }

  /** Opens a new connection every {@code interval} until {@link #stopNewConnections()}. */
  void startNewConnections(Duration interval) {
    ticker.scheduleAtFixedRate(() -> {
      int n = started.incrementAndGet();
      threads.execute(() -> attempts.add(oneConnection(n)));
    }, 0, interval.toNanos(), TimeUnit.NANOSECONDS);
  }

  private Attempt oneConnection(int n) {
    long start = System.nanoTime();
    byte[] line = (prefix + "-new-" + n + "\n").getBytes(StandardCharsets.US_ASCII);
    try (Socket s = Socks5Client.connect(socks, host, port, TIMEOUT)) {
      s.getOutputStream().write(line);
      byte[] back = s.getInputStream().readNBytes(line.length);
      if (!Arrays.equals(back, line)) {
        return new Attempt(n, start, System.nanoTime(), "echo came back as "
            + back.length + " bytes of " + line.length);
      }
      return new Attempt(n, start, System.nanoTime(), null);
    } catch (IOException e) {
      return new Attempt(n, start, System.nanoTime(), e.getClass().getSimpleName() + ": "
          + e.getMessage());
    }
  }

  /** Stops opening connections and waits for the ones under way; returns every attempt. */
  List<Attempt> stopNewConnections() throws InterruptedException {
    ticker.shutdownNow();
    ticker.awaitTermination(5, TimeUnit.SECONDS);
    long deadline = System.nanoTime() + TIMEOUT.plusSeconds(5).toNanos();
    while (attempts.size() < started.get() && System.nanoTime() < deadline) {
      TimeUnit.MILLISECONDS.sleep(20);
    }
    return List.copyOf(attempts);
  }

  /** Opens {@code n} long-lived connections, named {@code prefix-long-i}; each ticks on its own. */
  List<LongLived> openLongLived(int n) throws IOException {
    List<LongLived> opened = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      // names of distinct lengths, so that byte counts tell the connections apart
      String name = prefix + "-long-" + i + "-" + "x".repeat(i);
      LongLived c = new LongLived(name, Socks5Client.connect(socks, host, port, TIMEOUT));
      opened.add(c);
      threads.execute(c::run);
    }
    longLived.addAll(opened);
    return opened;
  }

  /** Failure reasons of {@code attempts}, counted. */
  static Map<String, Integer> failureReasons(List<Attempt> attempts) {
    Map<String, Integer> reasons = new TreeMap<>();
    for (Attempt a : attempts) {
      if (a.failure() != null) {
        reasons.merge(a.failure().replaceAll("[0-9]+", "N"), 1, Integer::sum);
      }
    }
    return reasons;
  }

  /** The longest stretch in which every started connection failed, in milliseconds. */
  static long longestOutageMillis(List<Attempt> attempts) {
    List<Attempt> byStart = new ArrayList<>(attempts);
    byStart.sort((x, y) -> Long.compare(x.startNanos(), y.startNanos()));
    long longest = 0;
    Long firstFailed = null;
    for (Attempt a : byStart) {
      if (a.failure() != null) {
        if (firstFailed == null) {
          firstFailed = a.startNanos();
        }
        longest = Math.max(longest, TimeUnit.NANOSECONDS.toMillis(a.startNanos() - firstFailed));
      } else {
        firstFailed = null;
      }
    }
    return longest;
  }

  @Override
  public void close() {
    ticker.shutdownNow();
    for (LongLived c : longLived) {
      c.close();
    }
    threads.shutdownNow();
  }

  /**
   * A connection that sends its name, then a line every {@link #TICK}, and reads each echo before
   * the next; it records the bytes it sent and received and how it ended: {@code FIN} (end of
   * stream), {@code RST} (reset) or another error.
   */
  static final class LongLived {
    final String name;
    private final Socket socket;
    private volatile long sent;
    private volatile long received;
    private volatile String ending;
    private volatile long endNanos;

    LongLived(String name, Socket socket) {
      this.name = name;
      this.socket = socket;
    }

    private void run() {
      try {
        socket.setSoTimeout((int) TIMEOUT.toMillis());
        OutputStream out = socket.getOutputStream();
        InputStream in = socket.getInputStream();
        byte[] buf = new byte[4096];
        for (int tick = 0; ; tick++) {
          byte[] line = ((tick == 0 ? name : "tick-" + tick) + "\n")
              .getBytes(StandardCharsets.US_ASCII);
          out.write(line);
          out.flush();
          sent += line.length;
          int want = line.length;
          while (want > 0) {
            int n = in.read(buf, 0, Math.min(buf.length, want));
            if (n < 0) {
              end("FIN");
              return;
            }
            received += n;
            want -= n;
          }
          TimeUnit.NANOSECONDS.sleep(TICK.toNanos());
        }
      } catch (SocketTimeoutException e) {
        end("timeout");
      } catch (SocketException e) {
        if (socket.isClosed()) {
          end("closed by the test");
        } else {
          end(e.getMessage() != null && e.getMessage().contains("reset") ? "RST"
              : "error: " + e.getMessage());
        }
      } catch (IOException e) {
        end("error: " + e.getMessage());
      } catch (InterruptedException e) {
        end("interrupted");
      }
    }

    private void end(String how) {
      endNanos = System.nanoTime();
      ending = how;
      try {
        socket.close();
      } catch (IOException ignored) {
        // closing
      }
    }

    long sent() {
      return sent;
    }

    long received() {
      return received;
    }

    /** How it ended, or null while it is open. */
    String ending() {
      return ending;
    }

    long endNanos() {
      return endNanos;
    }

    void close() {
      try {
        socket.close();
      } catch (IOException ignored) {
        // closing
      }
    }
  }
}
