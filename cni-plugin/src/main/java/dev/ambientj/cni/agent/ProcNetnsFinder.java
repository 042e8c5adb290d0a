package dev.ambientj.cni.agent;

import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finds the network namespaces of pods that are already running, by their IPs, in a proc file
 * system (the host's {@code /proc}; in the DaemonSet {@code /host/proc}) — what the node agent
 * uses for pods CNI never told it about (running before the agent was first installed).
 *
 * <p>One {@link #find} is one scan: every process directory's {@code ns/net} is stat'ed and the
 * namespaces are de-duplicated by (device, inode), keeping the lowest pid in each — normally the
 * pod sandbox's pause process, the first process of the pod and the last to exit. The host's own
 * namespace (that of pid 1 in this proc, and this process's own: the agent runs with the host
 * network, so does a ztunnel that is not a pod) is skipped. For every other namespace the
 * addresses of its interfaces are read from {@code <pid>/net/fib_trie} (IPv4: the {@code /32 host
 * LOCAL} entries, the kernel's local routes for the interface addresses) and {@code
 * <pid>/net/if_inet6} (IPv6): files that show the network namespace of that process, so no thread
 * of ours enters the pod. (Against {@code setns} plus {@link java.net.NetworkInterface}: the JDK
 * reads IPv6 addresses from {@code /proc/net/if_inet6}, which follows the process's main thread,
 * not the thread that entered the pod — wrong in dual-stack pods; netlink over FFM would be
 * correct but is much more code for the same answer.) An address matched is reported with its
 * namespace's path {@code <proc>/<pid>/ns/net} and inode; an address found in more than one
 * namespace is left out (logged): there is no telling which is the pod's. ztunnel's pod is never
 * enrolled, so its address is never asked for.
 *
 * <p>Cost: a stat per process and two small file reads per pod namespace; no process is entered
 * and nothing is opened for longer than a read. Processes that exit during the scan, or whose
 * entries cannot be read, are skipped. Thread-safe (a scan keeps its state to itself); the agent
 * runs one at a time, on its reconcile thread.
 */
final class ProcNetnsFinder {
  private static final Logger log = LoggerFactory.getLogger(ProcNetnsFinder.class);

  /** A network namespace: device and inode of its nsfs file. */
  record NetnsId(long dev, long inode) {}

  /**
   * Where an address was found.
   *
   * @param pid the lowest pid in that namespace
   * @param netns {@code <proc>/<pid>/ns/net}, usable with {@code nsenter --net=} and {@code open}
   */
  record Found(InetAddress address, long pid, Path netns, NetnsId id) {}

  private final Path proc;

  ProcNetnsFinder(Path proc) {
    this.proc = proc;
  }

  Path proc() {
    return proc;
  }

  /** Scans once; returns, for each address of {@code wanted} found in exactly one namespace, it. */
  Map<InetAddress, Found> find(Set<InetAddress> wanted) {
    Map<InetAddress, Found> found = new HashMap<>();
    if (wanted.isEmpty()) {
      return found;
    }
    Set<NetnsId> host = new HashSet<>();
    for (Path self : List.of(proc.resolve("1/ns/net"), Path.of("/proc/thread-self/ns/net"))) {
      NetnsId id = idOf(self);
      if (id != null) {
        host.add(id);
      }
    }
    Map<NetnsId, Long> lowest = new LinkedHashMap<>();
    for (long pid : pids()) {
      NetnsId id = idOf(proc.resolve(pid + "/ns/net"));
      if (id != null && !host.contains(id)) {
        lowest.putIfAbsent(id, pid); // pids ascend
      }
    }
    Set<InetAddress> ambiguous = new HashSet<>();
    for (Map.Entry<NetnsId, Long> e : lowest.entrySet()) {
      long pid = e.getValue();
      for (InetAddress a : addressesOf(pid)) {
        if (!wanted.contains(a) || ambiguous.contains(a)) {
          continue;
        }
        Found before = found.put(a, new Found(a, pid, proc.resolve(pid + "/ns/net"), e.getKey()));
        if (before != null) {
          found.remove(a);
          ambiguous.add(a);
          log.warn("cni-agent: address {} is in two network namespaces (of pids {} and {}); a pod"
              + " with it is not adopted until only one remains", a.getHostAddress(), before.pid(), pid);
        }
      }
    }
    log.debug("cni-agent: scanned {} network namespaces in {} for {} addresses: {} found",
        lowest.size(), proc, wanted.size(), found.size());
    return found;
  }

  /**
   * The network namespace at {@code netns} (a {@code <proc>/<pid>/ns/net} link or a bind mount),
   * or null when it cannot be stat'ed (the process exited, the file is gone).
   */
  static NetnsId idOf(Path netns) {
    try {
      Map<String, Object> a = Files.readAttributes(netns, "unix:dev,ino");
      return new NetnsId(((Number) a.get("dev")).longValue(), ((Number) a.get("ino")).longValue());
    } catch (IOException | UnsupportedOperationException | SecurityException e) {
      return null;
    }
  }

  /** The process ids in {@code proc}, ascending. */
  private List<Long> pids() {
    List<Long> pids = new ArrayList<>();
    try (DirectoryStream<Path> dir = Files.newDirectoryStream(proc)) {
      for (Path p : dir) {
        String name = p.getFileName().toString();
        if (!name.isEmpty() && name.length() < 19 && name.chars().allMatch(Character::isDigit)) {
          pids.add(Long.parseLong(name));
        }
      }
    } catch (IOException e) {
      log.warn("cni-agent: cannot list {}: {} (running pods are not adopted)", proc, e.toString());
    }
    pids.sort(null);
    return pids;
  }

  /** The interface addresses of pid's network namespace; empty when its files cannot be read. */
  private Set<InetAddress> addressesOf(long pid) {
    Set<InetAddress> all = new HashSet<>();
    Path net = proc.resolve(pid + "/net");
    try {
      all.addAll(localAddressesOfFibTrie(Files.readString(net.resolve("fib_trie"),
          StandardCharsets.US_ASCII)));
    } catch (IOException e) {
      log.debug("cni-agent: {}: {}", net.resolve("fib_trie"), e.toString());
    }
    try {
      all.addAll(addressesOfIfInet6(Files.readString(net.resolve("if_inet6"),
          StandardCharsets.US_ASCII)));
    } catch (NoSuchFileException e) {
      // IPv6 disabled in that namespace
    } catch (IOException e) {
      log.debug("cni-agent: {}: {}", net.resolve("if_inet6"), e.toString());
    }
    return all;
  }

  /**
   * The IPv4 interface addresses in a {@code /proc/<pid>/net/fib_trie}: the leaves ({@code |--
   * a.b.c.d}) that carry a {@code /32 host LOCAL} route — the kernel adds one for every address
   * assigned to an interface. Broadcast and prefix routes ({@code /32 link BROADCAST}, {@code /8
   * host LOCAL}) are not addresses and are left out.
   */
  static Set<InetAddress> localAddressesOfFibTrie(String fibTrie) {
    Set<InetAddress> out = new HashSet<>();
    String leaf = null;
    for (String raw : fibTrie.split("\n")) {
      String line = raw.strip();
      if (line.startsWith("|-- ")) {
        leaf = line.substring(4).strip();
      } else if (line.startsWith("/")) {
        if (leaf != null && line.startsWith("/32 ") && line.endsWith(" host LOCAL")) {
          InetAddress a = literal(leaf);
          if (a != null) {
            out.add(a);
          }
        }
      } else {
        leaf = null; // a node (+--) or a table header
      }
    }
    return out;
  }

  /**
   * The IPv6 addresses in a {@code /proc/<pid>/net/if_inet6}: one a line, the address as 32 hex
   * digits first, then index, prefix length, scope, flags and the interface name.
   */
  static Set<InetAddress> addressesOfIfInet6(String ifInet6) {
    Set<InetAddress> out = new HashSet<>();
    for (String line : ifInet6.split("\n")) {
      String hex = line.strip().split("\\s+", 2)[0];
      if (hex.length() != 32) {
        continue;
      }
      byte[] b = new byte[16];
      try {
        for (int i = 0; i < 16; i++) {
          b[i] = (byte) Integer.parseInt(hex, 2 * i, 2 * i + 2, 16);
        }
        out.add(InetAddress.getByAddress(b));
      } catch (NumberFormatException | UnknownHostException e) {
        // not an address line
      }
    }
    return out;
  }

  private static InetAddress literal(String s) {
    try {
      return InetAddress.ofLiteral(s);
    } catch (IllegalArgumentException e) {
      return null;
    }
  }
}
