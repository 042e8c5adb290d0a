package dev.ambientj.it.cluster;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * A ConfigMap, Secret or projected volume written the way the kubelet's atomic writer writes it:
 * the files in a timestamped directory {@code ..<time>}, a symlink {@code ..data} to it, and one
 * symlink per top-level name into {@code ..data}. An update writes a new timestamped directory and
 * swaps {@code ..data} with one rename, so a reader sees the old set or the new one, never a mix.
 */
final class AtomicVolume {
  private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("'..'yyyy_MM_dd_HH_mm_ss.nnnnnnnnn");

  private final Path dir;
  private Map<String, byte[]> current;

  AtomicVolume(Path dir) throws IOException {
    this.dir = Files.createDirectories(dir);
  }

  Path dir() {
    return dir;
  }

  /** Writes {@code files} (relative path → bytes) with {@code mode}; nothing if unchanged. */
  synchronized boolean write(Map<String, byte[]> files, int mode) throws IOException {
    if (current != null && sameContent(current, files)) {
      return false;
    }
    Path data = dir.resolve(LocalDateTime.now().format(STAMP));
    Files.createDirectories(data);
    Set<PosixFilePermission> perms = PosixFilePermissions.fromString(rwx(mode));
    for (Map.Entry<String, byte[]> f : files.entrySet()) {
      Path p = data.resolve(f.getKey());
      Files.createDirectories(p.getParent());
      Files.write(p, f.getValue());
      Files.setPosixFilePermissions(p, perms);
    }
    Path old = Files.isSymbolicLink(dir.resolve("..data")) ? dir.resolve(Files.readSymbolicLink(dir.resolve("..data"))) : null;
    Path tmp = dir.resolve("..data_tmp");
    Files.deleteIfExists(tmp);
    Files.createSymbolicLink(tmp, data.getFileName());
    Files.move(tmp, dir.resolve("..data"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    Set<String> top = new HashSet<>();
    for (String name : files.keySet()) {
      top.add(name.split("/")[0]);
    }
    for (String name : top) {
      Path link = dir.resolve(name);
      if (!Files.isSymbolicLink(link)) {
        Files.createSymbolicLink(link, Path.of("..data", name));
      }
    }
    try (Stream<Path> entries = Files.list(dir)) {
      for (Path e : entries.toList()) {
        String n = e.getFileName().toString();
        if (!n.startsWith("..") && !top.contains(n)) {
          Files.deleteIfExists(e);
        }
      }
    }
    if (old != null && !old.equals(data)) {
      deleteTree(old);
    }
    current = Map.copyOf(files);
    return true;
  }

  private static boolean sameContent(Map<String, byte[]> a, Map<String, byte[]> b) {
    if (!a.keySet().equals(b.keySet())) {
      return false;
    }
    return a.entrySet().stream().allMatch(e -> Arrays.equals(e.getValue(), b.get(e.getKey())));
  }

  private static String rwx(int mode) {
    StringBuilder s = new StringBuilder();
    for (int shift = 6; shift >= 0; shift -= 3) {
      int bits = (mode >> shift) & 7;
      s.append((bits & 4) != 0 ? 'r' : '-').append((bits & 2) != 0 ? 'w' : '-').append((bits & 1) != 0 ? 'x' : '-');
    }
    return s.toString();
  }

  static void deleteTree(Path p) throws IOException {
    if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(p)) {
      for (Path q : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(q);
      }
    }
  }
}
