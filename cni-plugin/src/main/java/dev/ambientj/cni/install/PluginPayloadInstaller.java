package dev.ambientj.cni.install;

import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotLinkException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

/**
 * Installs the plugin's payload (what {@link PluginPayloadBuilder} makes: the executable {@code
 * NAME} and its directory {@code NAME.d}) into the node's CNI bin directory:
 *
 * <pre>
 *   BIN/NAME.d-HASH/   a copy of the payload's NAME.d; HASH is of its content (paths, modes, bytes)
 *   BIN/NAME.d         symlink to NAME.d-HASH
 *   BIN/NAME           the executable; it resolves NAME.d once per run
 * </pre>
 *
 * <p>Invariants:
 *
 * <ul>
 *   <li>A directory named {@code NAME.d-HASH} is complete: it is filled under a temporary name
 *       ({@code .NAME.d-HASH.<random>.tmp}), flushed, then renamed; one being removed is renamed
 *       away first. So the name alone says the content is there, and is not read again.
 *   <li>{@code NAME.d} changes by one rename of a new symlink over it: a plugin run resolves the old
 *       version or the new one, never a mix. The executable is replaced (by rename too) after the
 *       switch; the executables of adjacent versions work with either payload.
 *   <li>Nothing is written when nothing changed (the agent calls {@link #install} every 30 s).
 *   <li>A version that {@code NAME.d} no longer names stays until {@link #RETIRE_AFTER} after the
 *       switch (the symlink's own mtime), so that a run that resolved it just before can finish;
 *       the plugin's own agent timeout is 30 s by default.
 * </ul>
 *
 * <p>One installer per bin directory: concurrent installers are not coordinated.
 */
public final class PluginPayloadInstaller {
  static final Duration RETIRE_AFTER = Duration.ofMinutes(5);
  private static final String TMP = ".tmp";

  private final Path payload;
  private final String name;
  private final String hash;
  private final Clock clock;

  private PluginPayloadInstaller(Path payload, String name, String hash, Clock clock) {
    this.payload = payload;
    this.name = name;
    this.hash = hash;
    this.clock = clock;
  }

  /**
   * What an install did.
   *
   * @param version the versioned directory {@code NAME.d} now names
   * @param written whether anything in the bin directory was written or switched
   */
  public record Result(Path version, boolean written) {}

  /**
   * Reads the payload in {@code payloadDir} ({@code pluginName} and {@code pluginName.d/}) and
   * hashes it, once: the payload (in the image) is not expected to change under a running agent.
   *
   * @throws CniConfException the payload directory lacks the executable or its directory
   */
  public static PluginPayloadInstaller of(Path payloadDir, String pluginName) throws IOException {
    return of(payloadDir, pluginName, Clock.systemUTC());
  }

  static PluginPayloadInstaller of(Path payloadDir, String pluginName, Clock clock)
      throws IOException {
    if (!Files.isRegularFile(payloadDir.resolve(pluginName))
        || !Files.isDirectory(payloadDir.resolve(pluginName + ".d"))) {
      throw new CniConfException(payloadDir, "not a plugin payload (expected: the executable "
          + pluginName + " and the directory " + pluginName + ".d/ in it)");
    }
    return new PluginPayloadInstaller(payloadDir, pluginName, hashOf(payloadDir.resolve(pluginName + ".d")),
        clock);
  }

  /** {@code NAME.d-HASH}: the versioned directory's name for this payload. */
  public String versionName() {
    return name + ".d-" + hash;
  }

  /**
   * Makes {@code binDir} hold this payload (see the class comment), then removes versions retired
   * more than {@link #RETIRE_AFTER} ago and temporary files a crash left behind.
   */
  public Result install(Path binDir) throws IOException {
    Path version = binDir.resolve(versionName());
    boolean written = false;
    if (!Files.isDirectory(version, LinkOption.NOFOLLOW_LINKS)) {
      copyVersion(version);
      written = true;
    }
    Path link = binDir.resolve(name + ".d");
    if (!versionName().equals(linkTarget(link))) {
      switchLink(link);
      written = true;
    }
    written |= CniConfInstaller.copyExecutable(payload.resolve(name), binDir, name);
    removeRetired(binDir, link);
    return new Result(version, written);
  }

  private void copyVersion(Path version) throws IOException {
    Path source = payload.resolve(name + ".d");
    Path tmp = tempBeside(version);
    try {
      List<Path> dirs = new ArrayList<>();
      try (Stream<Path> walk = Files.walk(source)) {
        for (Path from : walk.toList()) {
          Path to = tmp.resolve(source.relativize(from).toString());
          if (Files.isSymbolicLink(from)) {
            Files.createSymbolicLink(to, Files.readSymbolicLink(from));
          } else if (Files.isDirectory(from)) {
            Files.createDirectory(to);
            dirs.add(to);
          } else {
            Files.copy(from, to, StandardCopyOption.COPY_ATTRIBUTES);
            Files.setPosixFilePermissions(to, PosixFilePermissions.fromString(
                isExecutable(from) ? "rwxr-xr-x" : "rw-r--r--"));
            force(to);
          }
        }
      }
      for (Path d : dirs.reversed()) {
        Files.setPosixFilePermissions(d, PosixFilePermissions.fromString("rwxr-xr-x"));
        force(d);
      }
      Files.move(tmp, version, StandardCopyOption.ATOMIC_MOVE);
      force(version.getParent());
    } finally {
      PluginPayloadBuilder.deleteRecursively(tmp);
    }
  }

  /** A new symlink renamed over {@code link}; a directory in its way is moved aside first. */
  private void switchLink(Path link) throws IOException {
    if (Files.isDirectory(link, LinkOption.NOFOLLOW_LINKS)) {
      // e.g. a payload copied there by hand: a rename cannot replace a directory with a symlink.
      // Until the symlink is in place (microseconds), an ADD finds no payload and fails; the
      // runtime retries it. Moved aside under a version-like name, it is retired like one.
      Files.move(link, link.resolveSibling(name + ".d-replaced-"
          + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt())), StandardCopyOption.ATOMIC_MOVE);
    }
    Path tmp = tempBeside(link);
    Files.createSymbolicLink(tmp, Path.of(versionName()));
    try {
      Files.move(tmp, link, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      force(link.getParent());
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /**
   * Versions other than the current one once the switch is {@link #RETIRE_AFTER} old, and
   * temporary entries (left by a crash) at any time.
   */
  private void removeRetired(Path binDir, Path link) throws IOException {
    FileTime switched = Files.getLastModifiedTime(link, LinkOption.NOFOLLOW_LINKS);
    boolean retire = !switched.toInstant().plus(RETIRE_AFTER).isAfter(clock.instant());
    String versionPrefix = name + ".d-";
    String tmpPrefix = "." + name + ".d";
    List<Path> doomed = new ArrayList<>();
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(binDir)) {
      for (Path p : entries) {
        String n = p.getFileName().toString();
        if (n.startsWith(tmpPrefix) && n.endsWith(TMP)) {
          doomed.add(p);
        } else if (retire && n.startsWith(versionPrefix) && !n.equals(versionName())
            && Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
          Path away = tempBeside(p);
          Files.move(p, away, StandardCopyOption.ATOMIC_MOVE);
          doomed.add(away);
        }
      }
    }
    for (Path p : doomed) {
      PluginPayloadBuilder.deleteRecursively(p);
    }
  }

  private static String linkTarget(Path link) throws IOException {
    try {
      return Files.readSymbolicLink(link).toString();
    } catch (NotLinkException | NoSuchFileException e) {
      return null;
    }
  }

  /** {@code .<name>.<random>.tmp} beside {@code p}: a name the retire pass removes. */
  private static Path tempBeside(Path p) {
    return p.resolveSibling("." + p.getFileName() + "."
        + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong()) + TMP);
  }

  private static boolean isExecutable(Path file) throws IOException {
    return Files.getPosixFilePermissions(file).contains(PosixFilePermission.OWNER_EXECUTE);
  }

  private static void force(Path p) throws IOException {
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
      ch.force(true);
    }
  }

  /** SHA-256 over the sorted relative paths, each with its kind, mode and bytes; 16 hex digits. */
  static String hashOf(Path dir) throws IOException {
    MessageDigest sha;
    try {
      sha = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    List<Path> paths;
    try (Stream<Path> walk = Files.walk(dir)) {
      paths = walk.filter(p -> !p.equals(dir)).sorted().toList();
    }
    byte[] buf = new byte[1 << 16];
    for (Path p : paths) {
      String kind;
      if (Files.isSymbolicLink(p)) {
        kind = "l " + Files.readSymbolicLink(p);
      } else if (Files.isDirectory(p)) {
        kind = "d";
      } else {
        kind = (isExecutable(p) ? "x " : "f ") + Files.size(p);
      }
      sha.update((dir.relativize(p) + "\0" + kind + "\0").getBytes(StandardCharsets.UTF_8));
      if (kind.startsWith("x ") || kind.startsWith("f ")) {
        try (InputStream in = Files.newInputStream(p)) {
          for (int n; (n = in.read(buf)) > 0; ) {
            sha.update(buf, 0, n);
          }
        }
      }
    }
    return HexFormat.of().formatHex(sha.digest(), 0, 8);
  }
}
