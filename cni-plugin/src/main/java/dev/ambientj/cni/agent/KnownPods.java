package dev.ambientj.cni.agent;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Every pod this node's CNI plugin told the agent about (ADD, enrolled or not) until its DEL, and
 * every enrolled pod the agent found running without a CNI call ({@link ProcNetnsFinder}): the
 * pod's identity, its network-namespace path, and whether our redirection rules are in it. This
 * is what lets the agent capture a running pod whose namespace is labelled later, and release one
 * that is un-labelled, without a pod restart (there is no CNI call then).
 *
 * <p>With a file, every change is written through (a temporary file moved over the old one, so a
 * crash leaves the old or the new list, never half of one); an agent that restarts reads it back
 * and so knows the pods that existed before it started. Without a file (tests, host mode) the list
 * lives in memory only.
 *
 * <p>File format, one pod a line, fields as in {@link AgentProtocol} ({@code -} for absent):
 * {@code key uid namespace name netns captured [netns-inode]}. The key is the uid, or {@code
 * namespace/name} when the runtime gave no uid. The seventh field is written only for pods found
 * running ({@link Pod#adopted}), so lines of CNI-told pods read the same as before it existed.
 *
 * <p>Thread-safe: the map is concurrent; writes of the file are serialised.
 */
final class KnownPods {
  private static final Logger log = LoggerFactory.getLogger(KnownPods.class);
  private static final String HEADER = "# ambientj cni-agent: pods seen by CNI ADD or found running"
      + " on this node (key uid namespace name netns captured [netns-inode])";

  /**
   * One pod as CNI ADD described it, or as the agent found it running ({@link ProcNetnsFinder});
   * {@code captured}: our rules are in its netns. {@code netnsInode} is 0 for a netns path from
   * CNI (a bind mount, stable for the pod's life); for a found pod it is the inode of its netns,
   * whose path {@code <proc>/<pid>/ns/net} is only as stable as that process, so that a reused pid
   * is told apart from the pod's.
   */
  record Pod(String key, String uid, String namespace, String name, String netns, boolean captured,
      long netnsInode) {
    Pod(String key, String uid, String namespace, String name, String netns, boolean captured) {
      this(key, uid, namespace, name, netns, captured, 0);
    }

    Pod withCaptured(boolean c) {
      return new Pod(key, uid, namespace, name, netns, c, netnsInode);
    }

    /** The same pod, its netns now at {@code path} (another process of the same namespace). */
    Pod withNetns(String path) {
      return new Pod(key, uid, namespace, name, path, captured, netnsInode);
    }

    /** Found running in {@code /proc}, not told by CNI. */
    boolean adopted() {
      return netnsInode != 0;
    }

    String describe() {
      return "pod " + namespace + "/" + name;
    }
  }

  private final Path file;
  private final Map<String, Pod> pods = new ConcurrentHashMap<>();
  private final Object writeLock = new Object();

  private KnownPods(Path file) {
    this.file = file;
  }

  static KnownPods inMemory() {
    return new KnownPods(null);
  }

  /**
   * Reads {@code file} if it exists (unreadable lines are skipped with a warning) and writes
   * through to it from now on.
   */
  static KnownPods load(Path file) throws IOException {
    KnownPods k = new KnownPods(file);
    Path parent = file.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    if (Files.exists(file)) {
      int n = 0;
      for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
        n++;
        if (line.isBlank() || line.startsWith("#")) {
          continue;
        }
        String[] f = line.split(" ", -1);
        long inode = f.length == 7 ? inodeOf(f[6]) : 0;
        if ((f.length != 6 && f.length != 7) || inode < 0
            || (!f[5].equals("true") && !f[5].equals("false"))) {
          log.warn("cni-agent: {}:{}: not a pod line, skipped: {}", file, n, line);
          continue;
        }
        for (int i = 0; i < 5; i++) {
          f[i] = f[i].equals("-") ? "" : f[i];
        }
        k.pods.put(f[0], new Pod(f[0], f[1], f[2], f[3], f[4], Boolean.parseBoolean(f[5]), inode));
      }
      log.info("cni-agent: {} pods known from {}", k.pods.size(), file);
    }
    return k;
  }

  /** A positive inode, or -1 if {@code s} is not one. */
  private static long inodeOf(String s) {
    try {
      long v = Long.parseLong(s);
      return v > 0 ? v : -1;
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  static String keyOf(String uid, String namespace, String name) {
    return uid.isEmpty() ? namespace + "/" + name : uid;
  }

  Pod find(String key) {
    return pods.get(key);
  }

  /** The pod named {@code namespace/name}, whatever its key. */
  Pod findByName(String namespace, String name) {
    for (Pod p : pods.values()) {
      if (p.namespace().equals(namespace) && p.name().equals(name)) {
        return p;
      }
    }
    return null;
  }

  List<Pod> all() {
    return List.copyOf(pods.values());
  }

  void put(Pod pod) {
    Pod old = pods.put(pod.key(), pod);
    if (!pod.equals(old)) {
      save();
    }
  }

  void remove(String key) {
    if (pods.remove(key) != null) {
      save();
    }
  }

  /** Writes the list; a failure is logged (the in-memory list stays authoritative). */
  private void save() {
    if (file == null) {
      return;
    }
    synchronized (writeLock) {
      List<String> lines = new ArrayList<>(pods.size() + 1);
      lines.add(HEADER);
      for (Pod p : pods.values()) {
        lines.add(field(p.key()) + " " + field(p.uid()) + " " + field(p.namespace()) + " "
            + field(p.name()) + " " + field(p.netns()) + " " + p.captured()
            + (p.adopted() ? " " + p.netnsInode() : ""));
      }
      Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
      try {
        Files.write(tmp, lines, StandardCharsets.UTF_8);
        try {
          Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
          Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
        }
      } catch (IOException e) {
        log.warn("cni-agent: cannot write the pod list {}: {} (an agent restart will not know"
            + " these pods)", file, e.toString());
      }
    }
  }

  private static String field(String s) {
    return s == null || s.isEmpty() ? "-" : s;
  }
}
