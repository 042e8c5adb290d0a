package dev.ambientj.cni.install;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The installer against a small payload of the real layout (no jlink here: {@code
 * InstalledPluginTest} installs a real one). What a node's bin directory holds after each call.
 */
class PluginPayloadInstallerTest {
  static final String NAME = "ambientj-cni";

  @TempDir Path payload;
  @TempDir Path bin;

  @BeforeEach
  void writePayload() throws IOException {
    write(payload.resolve(NAME), "#!/bin/sh\necho v1\n", "rwxr-xr-x");
    write(payload.resolve(NAME + ".d/ambientj-cni.jar"), "jar v1", "rw-r--r--");
    write(payload.resolve(NAME + ".d/runtime/bin/java"), "#!/bin/sh\n", "rwxr-xr-x");
    write(payload.resolve(NAME + ".d/runtime/lib/modules"), "modules", "rw-r--r--");
  }

  @Test
  void installsAVersionedCopyBehindASymlinkThenTheExecutable() throws IOException {
    PluginPayloadInstaller installer = PluginPayloadInstaller.of(payload, NAME);
    PluginPayloadInstaller.Result r = installer.install(bin);

    assertThat(r.written()).isTrue();
    assertThat(r.version().getFileName().toString()).matches("ambientj-cni\\.d-[0-9a-f]{16}");
    assertThat(Files.readSymbolicLink(bin.resolve(NAME + ".d"))).isEqualTo(r.version().getFileName());
    assertThat(tree(bin.resolve(NAME + ".d"))).isEqualTo(tree(payload.resolve(NAME + ".d")));
    assertThat(mode(bin.resolve(NAME + ".d/runtime/bin/java"))).isEqualTo("rwxr-xr-x");
    assertThat(mode(bin.resolve(NAME + ".d/ambientj-cni.jar"))).isEqualTo("rw-r--r--");
    assertThat(Files.readString(bin.resolve(NAME))).isEqualTo("#!/bin/sh\necho v1\n");
    assertThat(mode(bin.resolve(NAME))).isEqualTo("rwxr-xr-x");
    assertThat(names(bin)).containsExactlyInAnyOrder(NAME, NAME + ".d", r.version().getFileName().toString());
  }

  @Test
  void aSecondInstallOfTheSameContentWritesNothing() throws IOException {
    PluginPayloadInstaller.of(payload, NAME).install(bin);
    Map<String, String> before = inodesAndTimes(bin);

    PluginPayloadInstaller.Result again = PluginPayloadInstaller.of(payload, NAME).install(bin);

    assertThat(again.written()).isFalse();
    assertThat(inodesAndTimes(bin)).isEqualTo(before);
  }

  @Test
  void newContentSwitchesTheSymlinkAndTheOldVersionIsRemovedOnlyAfterItsRetirement() throws IOException {
    PluginPayloadInstaller.Result v1 = PluginPayloadInstaller.of(payload, NAME).install(bin);
    write(payload.resolve(NAME + ".d/ambientj-cni.jar"), "jar v2", "rw-r--r--");
    PluginPayloadInstaller installer = PluginPayloadInstaller.of(payload, NAME);

    PluginPayloadInstaller.Result v2 = installer.install(bin);

    assertThat(v2.written()).isTrue();
    assertThat(v2.version()).isNotEqualTo(v1.version());
    assertThat(Files.readSymbolicLink(bin.resolve(NAME + ".d"))).isEqualTo(v2.version().getFileName());
    assertThat(Files.readString(bin.resolve(NAME + ".d/ambientj-cni.jar"))).isEqualTo("jar v2");
    assertThat(v1.version()).as("a run that resolved v1 just before may still read it").isDirectory();
    assertThat(Files.readString(v1.version().resolve("ambientj-cni.jar"))).isEqualTo("jar v1");

    Clock later = Clock.offset(Clock.systemUTC(), PluginPayloadInstaller.RETIRE_AFTER.plus(Duration.ofSeconds(1)));
    PluginPayloadInstaller.Result afterwards = PluginPayloadInstaller.of(payload, NAME, later).install(bin);

    assertThat(afterwards.written()).isFalse();
    assertThat(names(bin)).containsExactlyInAnyOrder(NAME, NAME + ".d", v2.version().getFileName().toString());
  }

  @Test
  void rollingBackToAVersionStillPresentReusesIt() throws IOException {
    PluginPayloadInstaller.Result v1 = PluginPayloadInstaller.of(payload, NAME).install(bin);
    BasicFileAttributes v1Attrs = Files.readAttributes(v1.version().resolve("ambientj-cni.jar"), BasicFileAttributes.class);
    write(payload.resolve(NAME + ".d/ambientj-cni.jar"), "jar v2", "rw-r--r--");
    PluginPayloadInstaller.of(payload, NAME).install(bin);
    write(payload.resolve(NAME + ".d/ambientj-cni.jar"), "jar v1", "rw-r--r--");

    PluginPayloadInstaller.Result back = PluginPayloadInstaller.of(payload, NAME).install(bin);

    assertThat(back.version()).isEqualTo(v1.version());
    assertThat(Files.readSymbolicLink(bin.resolve(NAME + ".d"))).isEqualTo(v1.version().getFileName());
    assertThat(Files.readAttributes(v1.version().resolve("ambientj-cni.jar"), BasicFileAttributes.class).fileKey())
        .as("not copied again").isEqualTo(v1Attrs.fileKey());
  }

  @Test
  void aModeChangeIsNewContent() throws IOException {
    String before = PluginPayloadInstaller.of(payload, NAME).versionName();
    Files.setPosixFilePermissions(payload.resolve(NAME + ".d/runtime/lib/modules"), PosixFilePermissions.fromString("rwxr-xr-x"));
    assertThat(PluginPayloadInstaller.of(payload, NAME).versionName()).isNotEqualTo(before);
  }

  @Test
  void aDirectoryInTheWayIsReplacedAndRetiredLikeAVersion() throws IOException {
    write(bin.resolve(NAME + ".d/ambientj-cni.jar"), "copied by hand", "rw-r--r--");

    PluginPayloadInstaller.Result r = PluginPayloadInstaller.of(payload, NAME).install(bin);

    assertThat(Files.readSymbolicLink(bin.resolve(NAME + ".d"))).isEqualTo(r.version().getFileName());
    assertThat(names(bin)).anyMatch(n -> n.startsWith(NAME + ".d-replaced-"));
    Clock later = Clock.offset(Clock.systemUTC(), PluginPayloadInstaller.RETIRE_AFTER.plus(Duration.ofSeconds(1)));
    PluginPayloadInstaller.of(payload, NAME, later).install(bin);
    assertThat(names(bin)).containsExactlyInAnyOrder(NAME, NAME + ".d", r.version().getFileName().toString());
  }

  @Test
  void whatACrashLeftBehindIsRemovedAndAHalfCopyIsNeverTakenForAVersion() throws IOException {
    PluginPayloadInstaller installer = PluginPayloadInstaller.of(payload, NAME);
    Path half = bin.resolve("." + installer.versionName() + ".1234.tmp");
    write(half.resolve("ambientj-cni.jar"), "half", "rw-r--r--");
    Files.createSymbolicLink(bin.resolve("." + NAME + ".d.5678.tmp"), Path.of("nowhere"));

    PluginPayloadInstaller.Result r = installer.install(bin);

    assertThat(names(bin)).containsExactlyInAnyOrder(NAME, NAME + ".d", r.version().getFileName().toString());
    assertThat(tree(r.version())).isEqualTo(tree(payload.resolve(NAME + ".d")));
  }

  @Test
  void aDirectoryThatIsNotAPayloadIsRefusedNamingIt() throws IOException {
    Files.delete(payload.resolve(NAME));
    assertThatThrownBy(() -> PluginPayloadInstaller.of(payload, NAME))
        .isInstanceOf(CniConfException.class)
        .hasMessage(payload + ": not a plugin payload (expected: the executable ambientj-cni and the"
            + " directory ambientj-cni.d/ in it)");
  }

  static void write(Path file, String content, String mode) throws IOException {
    Files.createDirectories(file.getParent());
    Files.writeString(file, content);
    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString(mode));
  }

  static String mode(Path file) throws IOException {
    return PosixFilePermissions.toString(Files.getPosixFilePermissions(file));
  }

  static java.util.List<String> names(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).toList();
    }
  }

  /** Relative path to content (files) or "dir", following the top symlink. */
  static Map<String, String> tree(Path dir) throws IOException {
    Path root = dir.toRealPath();
    Map<String, String> m = new TreeMap<>();
    try (Stream<Path> s = Files.walk(root)) {
      for (Path p : s.toList()) {
        m.put(root.relativize(p).toString(), Files.isDirectory(p) ? "dir" : Files.readString(p));
      }
    }
    return m;
  }

  /** Every entry (not following symlinks) with its inode and mtime: what a rewrite would change. */
  static Map<String, String> inodesAndTimes(Path dir) throws IOException {
    Map<String, String> m = new TreeMap<>();
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.toList()) {
        BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        m.put(dir.relativize(p).toString(), a.fileKey() + " " + a.lastModifiedTime());
      }
    }
    return m;
  }
}
