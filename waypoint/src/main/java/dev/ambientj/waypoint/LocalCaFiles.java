package dev.ambientj.waypoint;

import dev.ambientj.hbone.identity.LocalCertificateAuthority;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * The local CA root shared by separate {@code ./mesh} processes through a state directory, in the
 * layout {@code ./mesh ztunnel} uses: {@code <dir>/ca/root-cert.pem} (0644) and
 * {@code <dir>/ca/root-key.pem} (0600). The first process creates them (temporary files published
 * with hard links, so exactly one creator wins); the others load them.
 *
 * <p>A copy of the ztunnel's convention, because waypoint may not depend on ztunnel; it belongs
 * in hbone (or the CA issue) — see the report.
 */
final class LocalCaFiles {
  private LocalCaFiles() {}

  static LocalCertificateAuthority loadOrCreate(Path stateDir, String trustDomain) throws IOException {
    Path dir = stateDir.resolve("ca");
    Path cert = dir.resolve("root-cert.pem");
    Path key = dir.resolve("root-key.pem");
    if (!(Files.exists(cert) && Files.exists(key))) {
      Files.createDirectories(dir);
      LocalCertificateAuthority ca = LocalCertificateAuthority.create(trustDomain);
      Path keyTmp = Files.createTempFile(dir, "root-key", ".tmp",
          PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
      Files.writeString(keyTmp, ca.rootPrivateKeyPem(), StandardCharsets.US_ASCII, StandardOpenOption.TRUNCATE_EXISTING);
      Path certTmp = Files.createTempFile(dir, "root-cert", ".tmp");
      Files.writeString(certTmp, ca.rootPem(), StandardCharsets.US_ASCII, StandardOpenOption.TRUNCATE_EXISTING);
      Files.setPosixFilePermissions(certTmp, PosixFilePermissions.fromString("rw-r--r--"));
      try {
        Files.createLink(key, keyTmp);
        Files.createLink(cert, certTmp);
        return ca;
      } catch (FileAlreadyExistsException e) {
        for (int i = 0; i < 100 && !Files.exists(cert); i++) {
          try {
            Thread.sleep(50);
          } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for " + cert, ie);
          }
        }
      } finally {
        Files.deleteIfExists(keyTmp);
        Files.deleteIfExists(certTmp);
      }
    }
    return LocalCertificateAuthority.fromPem(trustDomain, Files.readString(cert, StandardCharsets.US_ASCII),
        Files.readString(key, StandardCharsets.US_ASCII));
  }
}
