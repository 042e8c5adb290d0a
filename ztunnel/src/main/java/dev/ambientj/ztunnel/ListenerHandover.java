package dev.ambientj.ztunnel;

import dev.ambientj.config.model.Workload;
import dev.ambientj.config.zds.Netns;
import io.netty.channel.Channel;
import io.netty.channel.unix.UnixChannel;
import io.netty.util.NetUtil;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hands the listening sockets of a ztunnel that got SIGTERM over to its successor, so that at
 * every moment some ztunnel accepts on every pod address (Istio's ztunnel-cni lifecycle).
 *
 * <p>Every workload listener is bound with {@code SO_REUSEPORT}, so a successor (the DaemonSet's
 * new pod, or a second {@code ./mesh ztunnel}) binds the same addresses while the old one runs,
 * and the kernel spreads new connections over both. On SIGTERM the old ztunnel keeps accepting —
 * and serving what it accepts — on each listener until a successor listens on the same address
 * (another listening socket on that address and port in the pod's network namespace, found in
 * {@code /proc/thread-self/net/tcp}), or until the drain deadline. Then it steers the group's new
 * connections to the successor ({@link Netns#steerReusePortGroup}: the oldest socket of a group
 * is the one leaving), keeps accepting for {@link #LINGER} so that connections already in its
 * accept queue or handshake are taken rather than reset, and closes the listener. A listener
 * without a successor at the deadline is simply closed.
 *
 * <p>Runs on the shutdown thread (it sleeps between polls); never on an event loop.
 */
final class ListenerHandover {
  private static final Logger log = LoggerFactory.getLogger(ListenerHandover.class);
  /** How often the listeners are checked for a successor. */
  static final long POLL_MILLIS = 100;
  /** How long a listener keeps accepting after steering new connections to its successor. */
  static final long LINGER = 500;

  /** One listening socket of one workload. */
  record Listener(WorkloadListeners owner, Workload workload, Channel channel) {
    InetSocketAddress address() {
      return (InetSocketAddress) channel.localAddress();
    }

    @Override
    public String toString() {
      return NetUtil.toSocketAddressString(address()) + " (" + owner + ")";
    }
  }

  /** What a handover did: listeners given to a successor, and those closed without one. */
  record Outcome(int handedOver, int withoutSuccessor) {}

  private final ListenerBinder binder;

  ListenerHandover(ListenerBinder binder) {
    this.binder = binder;
  }

  /**
   * Keeps {@code listeners} accepting until each has a successor (then steers, lingers, closes
   * it) or {@code deadlineNanos} passes (then closes it). Returns when all are closed.
   */
  Outcome run(List<Listener> listeners, long deadlineNanos) throws InterruptedException {
    return run(listeners, deadlineNanos, ownSocketInodes());
  }

  /** {@link #run(List, long)} where {@code own} are the sockets that are not successors. */
  Outcome run(List<Listener> listeners, long deadlineNanos, Set<Long> own)
      throws InterruptedException {
    Map<Listener, Long> handedAt = new LinkedHashMap<>();
    List<Listener> waiting = new ArrayList<>(listeners);
    int handedOver = 0;
    while (!(waiting.isEmpty() && handedAt.isEmpty()) && System.nanoTime() < deadlineNanos) {
      for (var it = waiting.iterator(); it.hasNext(); ) {
        Listener l = it.next();
        if (!l.channel().isOpen()) {
          it.remove(); // closed meanwhile (the workload left)
        } else if (successorListening(l, own)) {
          steerAway(l);
          handedAt.put(l, System.nanoTime());
          it.remove();
        }
      }
      long now = System.nanoTime();
      for (var it = handedAt.entrySet().iterator(); it.hasNext(); ) {
        var e = it.next();
        if (now - e.getValue() >= TimeUnit.MILLISECONDS.toNanos(LINGER)) {
          e.getKey().channel().close().awaitUninterruptibly();
          handedOver++;
          it.remove();
        }
      }
      if (!(waiting.isEmpty() && handedAt.isEmpty())) {
        TimeUnit.MILLISECONDS.sleep(POLL_MILLIS);
      }
    }
    for (Listener l : handedAt.keySet()) {
      l.channel().close().awaitUninterruptibly();
      handedOver++;
    }
    for (Listener l : waiting) {
      l.channel().close().awaitUninterruptibly();
    }
    return new Outcome(handedOver, waiting.size());
  }

  /** Whether a socket other than ours listens on {@code l}'s address in its network. */
  private boolean successorListening(Listener l, Set<Long> own) {
    InetSocketAddress at = l.address();
    try {
      return binder.callInNetwork(l.workload(), () -> {
        for (long inode : listening(at)) {
          if (!own.contains(inode)) {
            return true;
          }
        }
        return false;
      });
    } catch (Exception e) {
      log.debug("cannot look for a successor on {}: {}", l, e.toString());
      return false;
    }
  }

  /**
   * Steers new connections of the listener's group to the successor. Without a native transport
   * (no descriptor) or where the kernel refuses, the linger alone covers what is in flight.
   */
  private static void steerAway(Listener l) {
    if (l.channel() instanceof UnixChannel unix) {
      try {
        Netns.steerReusePortGroup(unix.fd().intValue(), 1);
        return;
      } catch (IOException | RuntimeException e) {
        log.debug("cannot steer {}'s new connections to its successor: {}", l, e.toString());
      }
    }
  }

  /**
   * The inodes of the sockets listening on {@code address} in the calling thread's network
   * namespace ({@code /proc/thread-self/net/tcp} or {@code tcp6}).
   */
  static List<Long> listening(InetSocketAddress address) throws IOException {
    List<Long> inodes = new ArrayList<>();
    if (address.getAddress() instanceof Inet4Address v4) {
      inodes.addAll(parseListening(readTable("tcp"), v4.getAddress(), address.getPort()));
      // the native transports bind IPv4 addresses on IPv6 sockets, as ::ffff:a.b.c.d
      byte[] mapped = new byte[16];
      mapped[10] = (byte) 0xff;
      mapped[11] = (byte) 0xff;
      System.arraycopy(v4.getAddress(), 0, mapped, 12, 4);
      inodes.addAll(parseListening(readTable("tcp6"), mapped, address.getPort()));
    } else {
      inodes.addAll(parseListening(readTable("tcp6"), address.getAddress().getAddress(),
          address.getPort()));
    }
    return inodes;
  }

  private static List<String> readTable(String name) throws IOException {
    Path table = Path.of("/proc/thread-self/net", name);
    return Files.exists(table) ? Files.readAllLines(table) : List.of();
  }

  /** The LISTEN ({@code st 0A}) rows of a {@code /proc/net/tcp[6]} table on {@code address}. */
  static List<Long> parseListening(List<String> table, byte[] address, int port) {
    String want = procAddress(address) + ":" + String.format(Locale.ROOT, "%04X", port);
    List<Long> inodes = new ArrayList<>();
    for (String row : table) {
      String[] f = row.trim().split("\\s+");
      if (f.length > 9 && f[3].equals("0A") && f[1].equalsIgnoreCase(want)) {
        inodes.add(Long.parseLong(f[9]));
      }
    }
    return inodes;
  }

  /** An address as {@code /proc/net/tcp} prints it: each 32-bit word in host (little-endian) order. */
  static String procAddress(InetAddress address) {
    return procAddress(address.getAddress());
  }

  private static String procAddress(byte[] b) {
    StringBuilder s = new StringBuilder();
    for (int word = 0; word < b.length; word += 4) {
      for (int i = 3; i >= 0; i--) {
        s.append(String.format(Locale.ROOT, "%02X", b[word + i] & 0xff));
      }
    }
    return s.toString();
  }

  /** The inodes of every socket this process holds ({@code /proc/self/fd}). */
  static Set<Long> ownSocketInodes() {
    Set<Long> inodes = new HashSet<>();
    try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
      for (Path fd : (Iterable<Path>) fds::iterator) {
        try {
          String target = Files.readSymbolicLink(fd).toString();
          if (target.startsWith("socket:[")) {
            inodes.add(Long.parseLong(target.substring(8, target.length() - 1)));
          }
        } catch (IOException | RuntimeException e) {
          // closed meanwhile
        }
      }
    } catch (IOException e) {
      log.debug("cannot list this process's descriptors: {}", e.toString());
    }
    return inodes;
  }
}
