package dev.ambientj.config.ca;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.PublicKey;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The CA's state in file mode: a directory (default {@code .mesh-state}) that outlives the
 * process.
 *
 * <pre>
 * &lt;dir&gt;/                 0700
 *   root-key.pem         0600  the current root's private key (PKCS#8)
 *   root-cert.pem        0644  the current root's certificate
 *   roots.pem            0644  the trust bundle: every root peers must trust, the current one included
 *   node-tokens/         0700  one bearer token per node ({@link NodeTokens})
 *   .lock                      held while the files above are created or rotated
 * </pre>
 *
 * <p>Lifecycle: {@link #open} creates the root once (when {@code root-key.pem} is absent) and
 * otherwise loads it, so every restart signs with the same root. {@link #rotateRoot} makes a new
 * root current and keeps the old one in {@code roots.pem}: leaves issued before the rotation keep
 * verifying until they expire, and clients that reload the bundle trust both. Expired roots other
 * than the current one are dropped from the bundle on open. The old root's key is not kept: nothing
 * signs with it again.
 *
 * <p>Files are written to a temporary file (with its final permissions from creation) and moved
 * into place atomically, so a crash never leaves half a key. A root key readable by group or others
 * is tightened to 0600 with a warning. Two processes opening the same directory at once are
 * serialised by a file lock on {@code .lock}.
 *
 * <p>Thread-safe: {@link #roots()} is one volatile read; rotation is synchronized.
 */
public final class CaStateDirectory {
  private static final Logger log = LoggerFactory.getLogger(CaStateDirectory.class);

  public static final String ROOT_KEY = "root-key.pem";
  public static final String ROOT_CERT = "root-cert.pem";
  public static final String TRUST_BUNDLE = "roots.pem";
  public static final String NODE_TOKENS = "node-tokens";

  static final Set<PosixFilePermission> OWNER_ONLY_FILE = PosixFilePermissions.fromString("rw-------");
  static final Set<PosixFilePermission> OWNER_ONLY_DIR = PosixFilePermissions.fromString("rwx------");
  private static final Set<PosixFilePermission> PUBLIC_FILE = PosixFilePermissions.fromString("rw-r--r--");

  private final Path dir;
  private final String trustDomain;
  private final Clock clock;
  private final boolean createdRoot;
  private volatile CaRoots roots;

  private CaStateDirectory(Path dir, String trustDomain, Clock clock, CaRoots roots, boolean created) {
    this.dir = dir;
    this.trustDomain = trustDomain;
    this.clock = clock;
    this.roots = roots;
    this.createdRoot = created;
  }

  /** Opens {@code dir}, creating it and a root for {@code trustDomain} on first use. */
  public static CaStateDirectory open(Path dir, String trustDomain) throws IOException {
    return open(dir, trustDomain, Clock.systemUTC());
  }

  public static CaStateDirectory open(Path dir, String trustDomain, Clock clock) throws IOException {
    Objects.requireNonNull(trustDomain, "trustDomain");
    SpiffeUri.checkTrustDomain(trustDomain, trustDomain);
    Path d = dir.toAbsolutePath().normalize();
    createPrivateDirectory(d);
    try (Lock _ = Lock.take(d)) {
      Path keyFile = d.resolve(ROOT_KEY);
      Path certFile = d.resolve(ROOT_CERT);
      boolean created = false;
      CaRoot root;
      if (Files.exists(keyFile)) {
        tightenKeyPermissions(keyFile);
        root = load(keyFile, certFile);
      } else {
        root = CaRoot.generate(trustDomain, clock, CaRoot.DEFAULT_VALIDITY);
        writeRoot(d, root);
        created = true;
        log.info("created a new root CA in {} ({})", d, root.certificate().getSubjectX500Principal());
      }
      List<X509Certificate> bundle = readBundle(d.resolve(TRUST_BUNDLE));
      List<X509Certificate> kept = new ArrayList<>();
      Date now = Date.from(clock.instant());
      for (X509Certificate c : bundle) {
        if (c.equals(root.certificate()) || !c.getNotAfter().before(now)) {
          if (!kept.contains(c)) {
            kept.add(c);
          }
        } else {
          log.info("dropping expired root {} from {}", c.getSubjectX500Principal(), TRUST_BUNDLE);
        }
      }
      if (!kept.contains(root.certificate())) {
        kept.add(root.certificate());
      }
      CaRoots roots = new CaRoots(root, kept);
      if (!kept.equals(bundle)) {
        writeFile(d.resolve(TRUST_BUNDLE), roots.trustBundlePem(), PUBLIC_FILE);
      }
      return new CaStateDirectory(d, trustDomain, clock, roots, created);
    }
  }

  public Path directory() {
    return dir;
  }

  public String trustDomain() {
    return trustDomain;
  }

  public Path rootKeyFile() {
    return dir.resolve(ROOT_KEY);
  }

  public Path rootCertFile() {
    return dir.resolve(ROOT_CERT);
  }

  /** {@code roots.pem}: what clients should trust (all roots, during a rotation more than one). */
  public Path trustBundleFile() {
    return dir.resolve(TRUST_BUNDLE);
  }

  public Path nodeTokensDirectory() {
    return dir.resolve(NODE_TOKENS);
  }

  /** True when this {@link #open} created the root (first use of the directory). */
  public boolean createdRoot() {
    return createdRoot;
  }

  /** The current signer and trust bundle. */
  public CaRoots roots() {
    return roots;
  }

  /**
   * Generates a new root and makes it current; the previous roots stay in the trust bundle.
   *
   * @return the new root
   */
  public synchronized CaRoot rotateRoot() throws IOException {
    try (Lock _ = Lock.take(dir)) {
      CaRoot next = CaRoot.generate(trustDomain, clock, CaRoot.DEFAULT_VALIDITY);
      List<X509Certificate> bundle = new ArrayList<>(roots.trustBundle());
      bundle.add(next.certificate());
      CaRoots updated = new CaRoots(next, bundle);
      // Bundle first: a client that reads the bundle between the two writes already trusts the
      // root that is about to sign.
      writeFile(dir.resolve(TRUST_BUNDLE), updated.trustBundlePem(), PUBLIC_FILE);
      writeRoot(dir, next);
      roots = updated;
      log.info(
          "rotated the root CA in {}: now {}; {} roots trusted",
          dir, next.certificate().getSubjectX500Principal(), bundle.size());
      return next;
    }
  }

  /**
   * Adds a root that peers should trust without this CA signing with it (e.g. the root of a CA
   * this mesh migrates to or from). No-op if already present.
   */
  public synchronized void addTrustedRoot(X509Certificate root) throws IOException {
    Objects.requireNonNull(root, "root");
    if (roots.trustBundle().contains(root)) {
      return;
    }
    if (root.getBasicConstraints() < 0) {
      throw new IllegalArgumentException(
          root.getSubjectX500Principal() + " is not a CA certificate (basicConstraints CA:false)");
    }
    try (Lock _ = Lock.take(dir)) {
      List<X509Certificate> bundle = new ArrayList<>(roots.trustBundle());
      bundle.add(root);
      CaRoots updated = new CaRoots(roots.signer(), bundle);
      writeFile(dir.resolve(TRUST_BUNDLE), updated.trustBundlePem(), PUBLIC_FILE);
      roots = updated;
    }
  }

  private static CaRoot load(Path keyFile, Path certFile) throws IOException {
    var key = CaPem.parsePrivateKey(Files.readString(keyFile, StandardCharsets.US_ASCII));
    if (!Files.exists(certFile)) {
      throw new IOException(
          keyFile + " exists but " + certFile + " is missing: restore it, or move both away to"
              + " create a new root (every workload certificate will then be re-issued)");
    }
    List<X509Certificate> certs =
        CaPem.parseCertificates(Files.readString(certFile, StandardCharsets.US_ASCII));
    if (certs.isEmpty()) {
      throw new IOException(certFile + " holds no PEM certificate");
    }
    X509Certificate cert = certs.get(0);
    if (!matches(cert.getPublicKey(), key)) {
      throw new IOException(certFile + " does not belong to the key in " + keyFile);
    }
    return new CaRoot(cert, key);
  }

  private static boolean matches(PublicKey pub, java.security.PrivateKey key) {
    try {
      String alg = key.getAlgorithm().equals("EC") ? "SHA256withECDSA" : "SHA256withRSA";
      var s = java.security.Signature.getInstance(alg);
      s.initSign(key);
      byte[] probe = "ambientj-root-check".getBytes(StandardCharsets.US_ASCII);
      s.update(probe);
      byte[] sig = s.sign();
      var v = java.security.Signature.getInstance(alg);
      v.initVerify(pub);
      v.update(probe);
      return v.verify(sig);
    } catch (java.security.GeneralSecurityException e) {
      return false;
    }
  }

  private static List<X509Certificate> readBundle(Path f) throws IOException {
    if (!Files.exists(f)) {
      return List.of();
    }
    return CaPem.parseCertificates(Files.readString(f, StandardCharsets.US_ASCII));
  }

  private static void writeRoot(Path d, CaRoot root) throws IOException {
    // Key first: a root-cert.pem without its key would be unusable, a key without its cert is
    // reported on the next open.
    writeFile(d.resolve(ROOT_KEY), CaPem.privateKey(root.privateKey()), OWNER_ONLY_FILE);
    writeFile(d.resolve(ROOT_CERT), root.certificatePem(), PUBLIC_FILE);
  }

  static void createPrivateDirectory(Path d) throws IOException {
    if (!Files.isDirectory(d)) {
      Files.createDirectories(d.getParent());
      try {
        Files.createDirectory(d, PosixFilePermissions.asFileAttribute(OWNER_ONLY_DIR));
      } catch (java.nio.file.FileAlreadyExistsException e) {
        // created concurrently
      }
    }
  }

  /** Writes {@code text} to {@code target} atomically; the file has {@code perms} from birth. */
  static void writeFile(Path target, String text, Set<PosixFilePermission> perms) throws IOException {
    Path tmp =
        Files.createTempFile(
            target.getParent(), "." + target.getFileName(), ".tmp",
            PosixFilePermissions.asFileAttribute(perms));
    try {
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
        ch.write(java.nio.ByteBuffer.wrap(text.getBytes(StandardCharsets.US_ASCII)));
        ch.force(true);
      }
      Files.setPosixFilePermissions(tmp, perms); // the umask may have narrowed 0644
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  private static void tightenKeyPermissions(Path keyFile) throws IOException {
    Set<PosixFilePermission> perms = Files.getPosixFilePermissions(keyFile);
    if (!OWNER_ONLY_FILE.containsAll(perms)) {
      log.warn(
          "{} was readable by others ({}); setting it to 0600",
          keyFile, PosixFilePermissions.toString(perms));
      Files.setPosixFilePermissions(keyFile, OWNER_ONLY_FILE);
    }
  }

  /** An exclusive lock on {@code <dir>/.lock} across processes. */
  private record Lock(FileChannel channel, FileLock lock) implements AutoCloseable {
    static Lock take(Path dir) throws IOException {
      FileChannel ch =
          FileChannel.open(
              dir.resolve(".lock"),
              Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE),
              PosixFilePermissions.asFileAttribute(OWNER_ONLY_FILE));
      try {
        return new Lock(ch, ch.lock());
      } catch (IOException | RuntimeException e) {
        ch.close();
        throw e;
      }
    }

    @Override
    public void close() throws IOException {
      try {
        lock.release();
      } finally {
        channel.close();
      }
    }
  }

  @Override
  public String toString() {
    return "CaStateDirectory[" + dir + ", " + roots.trustBundle().size() + " roots]";
  }

  static String describe(X509Certificate c) {
    return c.getSubjectX500Principal() + " (serial " + c.getSerialNumber().toString(16)
        + ", until " + c.getNotAfter().toInstant() + ")";
  }
}
