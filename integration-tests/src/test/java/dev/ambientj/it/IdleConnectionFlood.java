package dev.ambientj.it;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A hostile client, run as its own process (with a descriptor limit above the server's): opens
 * {@code count} TCP connections to {@code host:port} from the given local source addresses (round
 * robin), keeps them idle, and reports what the server does with them. In mode {@code raw} a
 * connection sends nothing; in mode {@code h2} it sends the HTTP/2 client preface and an empty
 * SETTINGS frame (a completed plaintext handshake) and then nothing more.
 *
 * <p>Prints one line per half second, {@code flood opened=N closed=M failed=F open=O}, and at the
 * end {@code flood done opened=N closed=M failed=F open=O closedWithin1s=A closedLater=B
 * maxSecondsToClose=S}: {@code closed} counts connections the server closed (EOF or reset),
 * {@code failed} connects that did not complete. Ends when every connection opened is closed, or
 * after {@code holdSeconds}.
 *
 * <p>Usage: {@code IdleConnectionFlood HOST PORT COUNT raw|h2 HOLD_SECONDS SOURCE_ADDRESS...}
 */
public final class IdleConnectionFlood {
  /** Connects in progress at once: enough to be fast, few enough not to overflow the backlog. */
  private static final int IN_FLIGHT = 256;
  private static final byte[] H2_PREFACE_AND_SETTINGS = h2Preface();

  private IdleConnectionFlood() {}

  private static final class Conn {
    final SocketChannel channel;
    long connectedNanos;

    Conn(SocketChannel channel) {
      this.channel = channel;
    }
  }

  public static void main(String[] args) throws Exception {
    InetSocketAddress target = new InetSocketAddress(InetAddress.getByName(args[0]),
        Integer.parseInt(args[1]));
    int count = Integer.parseInt(args[2]);
    boolean h2 = args[3].equals("h2");
    long holdNanos = TimeUnit.SECONDS.toNanos(Long.parseLong(args[4]));
    List<InetAddress> sources = new ArrayList<>();
    for (int i = 5; i < args.length; i++) {
      sources.add(InetAddress.getByName(args[i]));
    }
    if (sources.isEmpty()) {
      sources.add(InetAddress.getLoopbackAddress());
    }
    int started = 0;
    int opened = 0;
    int closed = 0;
    int failed = 0;
    int connecting = 0;
    int closedWithin1s = 0;
    int closedLater = 0;
    long maxToCloseNanos = 0;
    ByteBuffer sink = ByteBuffer.allocate(4096);
    long start = System.nanoTime();
    long nextReport = start;
    try (Selector selector = Selector.open()) {
      while (true) {
        while (started < count && connecting < IN_FLIGHT) {
          SocketChannel ch = SocketChannel.open();
          started++;
          try {
            ch.configureBlocking(false);
            ch.bind(new InetSocketAddress(sources.get(started % sources.size()), 0));
            Conn c = new Conn(ch);
            if (ch.connect(target)) {
              opened(ch, c, selector, h2);
              opened++;
            } else {
              ch.register(selector, SelectionKey.OP_CONNECT, c);
              connecting++;
            }
          } catch (IOException e) {
            failed++;
            ch.close();
          }
        }
        selector.select(100);
        Iterator<SelectionKey> it = selector.selectedKeys().iterator();
        while (it.hasNext()) {
          SelectionKey key = it.next();
          it.remove();
          Conn c = (Conn) key.attachment();
          if (key.isValid() && key.isConnectable()) {
            connecting--;
            try {
              c.channel.finishConnect();
              opened(c.channel, c, selector, h2);
              opened++;
            } catch (IOException e) {
              failed++;
              key.cancel();
              c.channel.close();
            }
            continue;
          }
          if (key.isValid() && key.isReadable()) {
            int n;
            try {
              sink.clear();
              n = c.channel.read(sink);
            } catch (IOException e) {
              n = -1; // reset by the server
            }
            if (n < 0) {
              long took = System.nanoTime() - c.connectedNanos;
              maxToCloseNanos = Math.max(maxToCloseNanos, took);
              if (took < TimeUnit.SECONDS.toNanos(1)) {
                closedWithin1s++;
              } else {
                closedLater++;
              }
              closed++;
              key.cancel();
              c.channel.close();
            }
          }
        }
        long now = System.nanoTime();
        boolean finished = started == count && connecting == 0 && closed == opened;
        if (now >= nextReport || finished || now - start > holdNanos) {
          System.out.printf("flood opened=%d closed=%d failed=%d open=%d%n", opened, closed, failed,
              opened - closed);
          System.out.flush();
          nextReport = now + TimeUnit.MILLISECONDS.toNanos(500);
        }
        if (finished || now - start > holdNanos) {
          break;
        }
      }
    }
    System.out.printf("flood done opened=%d closed=%d failed=%d open=%d closedWithin1s=%d"
        + " closedLater=%d maxSecondsToClose=%.1f%n", opened, closed, failed, opened - closed,
        closedWithin1s, closedLater, maxToCloseNanos / 1e9);
    System.out.flush();
    System.exit(0); // the rest close with the process
  }

  private static void opened(SocketChannel ch, Conn c, Selector selector, boolean h2)
      throws IOException {
    c.connectedNanos = System.nanoTime();
    if (h2) {
      ByteBuffer preface = ByteBuffer.wrap(H2_PREFACE_AND_SETTINGS);
      while (preface.hasRemaining() && ch.write(preface) > 0) {
        // a fresh socket's send buffer takes these 33 bytes at once
      }
    }
    ch.register(selector, SelectionKey.OP_READ, c);
  }

  /** The client connection preface (RFC 9113 §3.4) and an empty SETTINGS frame. */
  private static byte[] h2Preface() {
    byte[] magic = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
    byte[] settings = {0, 0, 0, 0x4, 0, 0, 0, 0, 0}; // length 0, type SETTINGS, no flags, stream 0
    byte[] out = new byte[magic.length + settings.length];
    System.arraycopy(magic, 0, out, 0, magic.length);
    System.arraycopy(settings, 0, out, magic.length, settings.length);
    return out;
  }
}
