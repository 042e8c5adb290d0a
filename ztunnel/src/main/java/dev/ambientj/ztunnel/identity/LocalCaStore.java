package dev.ambientj.ztunnel.identity;

import dev.ambientj.hbone.identity.LocalCertificateAuthority;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Persists the local CA's root (certificate and key) in a state directory so that separate
 * {@code ./mesh ztunnel} processes share one root and trust each other. Stop-gap until the CA issue
 * brings a real CA server.
 *
 * <p>Layout: {@code <dir>/ca/root-cert.pem} (0644) and {@code <dir>/ca/root-key.pem} (0600). The
 * first process to start creates them: written to temporary files, then published with hard links,
 * which fail when the name exists, so a process that loses the race loads the winner's files.
 */
public final class LocalCaStore {
  private static final Logger log = LoggerFactory.getLogger(LocalCaStore.class);

  private LocalCaStore() {}

  /** Loads the root from {@code stateDir}, creating and persisting a new one if there is none. */
  public static LocalCertificateAuthority loadOrCreate(Path stateDir, String trustDomain)
      throws IOException {
    Path dir = stateDir.resolve("ca");
    Path cert = dir.resolve("root-cert.pem");
    Path key = dir.resolve("root-key.pem");
    if (Files.exists(cert) && Files.exists(key)) {
      return load(trustDomain, cert, key);
    }
    Files.createDirectories(dir);
    LocalCertificateAuthority ca = LocalCertificateAuthority.create(trustDomain);
    Path keyTmp = Files.createTempFile(dir, "root-key", ".tmp",
        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    Files.writeString(keyTmp, ca.rootPrivateKeyPem(), StandardCharsets.US_ASCII,
        StandardOpenOption.TRUNCATE_EXISTING);
    Path certTmp = Files.createTempFile(dir, "root-cert", ".tmp");
    Files.writeString(certTmp, ca.rootPem(), StandardCharsets.US_ASCII,
        StandardOpenOption.TRUNCATE_EXISTING);
    Files.setPosixFilePermissions(certTmp, PosixFilePermissions.fromString("rw-r--r--"));
    try {
      // Hard links fail when the name exists, so exactly one process wins; the key goes first so a
      // process that sees the certificate also sees the key.
      Files.createLink(key, keyTmp);
    } catch (FileAlreadyExistsException e) {
      Files.deleteIfExists(keyTmp);
      Files.deleteIfExists(certTmp);
      awaitCertificate(cert);
      return load(trustDomain, cert, key);
    }
    Files.createLink(cert, certTmp);
    Files.deleteIfExists(keyTmp);
    Files.deleteIfExists(certTmp);
    log.info("created a local root CA for trust domain {} in {}", trustDomain, dir);
    return ca;
  }

  private static void awaitCertificate(Path cert) throws IOException {
    for (int i = 0; i < 100 && !Files.exists(cert); i++) {
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted while waiting for " + cert, e);
      }
    }
  }

  private static LocalCertificateAuthority load(String trustDomain, Path cert, Path key)
      throws IOException {
    Set<java.nio.file.attribute.PosixFilePermission> perms = Files.getPosixFilePermissions(key);
    if (perms.size() > 2 || perms.stream().anyMatch(p -> !p.name().startsWith("OWNER"))) {
      log.warn("{} is readable by others ({}); it should be 0600",
          key, PosixFilePermissions.toString(perms));
    }
    log.info("using the local root CA in {}", cert.getParent());
    return LocalCertificateAuthority.fromPem(trustDomain,
        Files.readString(cert, StandardCharsets.US_ASCII),
        Files.readString(key, StandardCharsets.US_ASCII));
  }
}
