package dev.ambientj.ztunnel.identity;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.hbone.identity.LocalCertificateAuthority;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LocalCaStoreTest {

  @Test
  void secondLoadReturnsTheSameRootAndTheKeyIsPrivate(@TempDir Path dir) throws Exception {
    LocalCertificateAuthority first = LocalCaStore.loadOrCreate(dir, "cluster.local");
    LocalCertificateAuthority second = LocalCaStore.loadOrCreate(dir, "cluster.local");

    assertThat(second.root()).isEqualTo(first.root());
    assertThat(PosixFilePermissions.toString(
        Files.getPosixFilePermissions(dir.resolve("ca/root-key.pem")))).isEqualTo("rw-------");
    try (var files = Files.list(dir.resolve("ca"))) {
      assertThat(files.map(p -> p.getFileName().toString()))
          .containsExactlyInAnyOrder("root-cert.pem", "root-key.pem");
    }
  }
}
