package dev.ambientj.config.ca;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CaStateDirectoryTest {
  @TempDir Path tmp;

  @Test
  void rootIsCreatedOnceOwnerOnlyAndReusedAcrossOpens() throws Exception {
    Path dir = tmp.resolve("state");
    CaStateDirectory first = CaStateDirectory.open(dir, "cluster.local");
    assertThat(first.createdRoot()).isTrue();
    assertThat(perms(dir)).isEqualTo("rwx------");
    assertThat(perms(first.rootKeyFile())).isEqualTo("rw-------");
    assertThat(Files.readString(first.rootKeyFile())).startsWith("-----BEGIN PRIVATE KEY-----");
    byte[] cert = Files.readAllBytes(first.rootCertFile());
    byte[] key = Files.readAllBytes(first.rootKeyFile());

    CaStateDirectory second = CaStateDirectory.open(dir, "cluster.local");
    assertThat(second.createdRoot()).isFalse();
    assertThat(Files.readAllBytes(second.rootCertFile())).isEqualTo(cert);
    assertThat(Files.readAllBytes(second.rootKeyFile())).isEqualTo(key);
    assertThat(second.roots().signer().certificate()).isEqualTo(first.roots().signer().certificate());
    assertThat(second.roots().signer().certificate().getEncoded())
        .isEqualTo(CaPem.parseCertificates(new String(cert)).get(0).getEncoded());
    assertThat(CaPem.parseCertificates(Files.readString(second.trustBundleFile())))
        .containsExactly(second.roots().signer().certificate());
    assertThat(second.roots().signer().certificate().getBasicConstraints()).isEqualTo(0);
  }

  @Test
  void rotationMakesANewRootCurrentAndKeepsTheOldOneTrusted() throws Exception {
    Path dir = tmp.resolve("state");
    CaStateDirectory state = CaStateDirectory.open(dir, "cluster.local");
    var oldRoot = state.roots().signer().certificate();

    CaRoot next = state.rotateRoot();

    assertThat(next.certificate()).isNotEqualTo(oldRoot);
    assertThat(state.roots().signer()).isEqualTo(next);
    assertThat(state.roots().trustBundle()).containsExactly(oldRoot, next.certificate());
    assertThat(perms(state.rootKeyFile())).isEqualTo("rw-------");
    CaStateDirectory reopened = CaStateDirectory.open(dir, "cluster.local");
    assertThat(reopened.roots().signer().certificate()).isEqualTo(next.certificate());
    assertThat(reopened.roots().trustBundle()).containsExactly(oldRoot, next.certificate());
    assertThat(CaPem.parseCertificates(Files.readString(reopened.trustBundleFile())))
        .containsExactly(oldRoot, next.certificate());
    assertThat(CaPem.parseCertificates(Files.readString(reopened.rootCertFile())))
        .containsExactly(next.certificate());
  }

  @Test
  void addTrustedRootExtendsTheBundleButNotTheSigner() throws Exception {
    CaStateDirectory state = CaStateDirectory.open(tmp.resolve("state"), "cluster.local");
    CaRoot other = CaRoot.generate("cluster.local", java.time.Clock.systemUTC(), Duration.ofDays(1));
    state.addTrustedRoot(other.certificate());
    state.addTrustedRoot(other.certificate());
    assertThat(state.roots().trustBundle()).hasSize(2).contains(other.certificate());
    assertThat(state.roots().signer().certificate()).isNotEqualTo(other.certificate());
    assertThat(CaStateDirectory.open(state.directory(), "cluster.local").roots().trustBundle())
        .contains(other.certificate());
  }

  @Test
  void aRootKeyReadableByOthersIsTightened() throws Exception {
    Path dir = tmp.resolve("state");
    CaStateDirectory state = CaStateDirectory.open(dir, "cluster.local");
    Files.setPosixFilePermissions(state.rootKeyFile(), PosixFilePermissions.fromString("rw-r--r--"));
    CaStateDirectory.open(dir, "cluster.local");
    assertThat(perms(state.rootKeyFile())).isEqualTo("rw-------");
  }

  @Test
  void aRootCertificateThatDoesNotMatchTheKeyIsRefused() throws Exception {
    Path dir = tmp.resolve("state");
    CaStateDirectory.open(dir, "cluster.local");
    CaRoot other = CaRoot.generate("cluster.local", java.time.Clock.systemUTC(), Duration.ofDays(1));
    Files.writeString(dir.resolve(CaStateDirectory.ROOT_CERT), other.certificatePem());
    assertThatThrownBy(() -> CaStateDirectory.open(dir, "cluster.local"))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("does not belong to the key");
  }

  private static String perms(Path p) throws IOException {
    return PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
  }
}
