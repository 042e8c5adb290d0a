package dev.ambientj.hbone.identity;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A certificate authority held in memory: an EC P-256 root that signs EC P-256 workload leaves.
 *
 * <p>Root: self-signed, {@code basicConstraints CA:true} (critical), {@code keyCertSign|cRLSign}
 * (critical), subject key id. Leaf: empty subject, the SPIFFE id as the only URI SAN (critical, as
 * SPIFFE X.509-SVIDs with an empty subject require), {@code CA:false}, {@code digitalSignature}
 * (critical), EKU serverAuth + clientAuth, authority/subject key ids, a random 127-bit serial,
 * validity from one minute ago (clock skew) to now + ttl.
 *
 * <p>Persisted for the processes of one machine by {@link #loadOrCreate}.
 *
 * <p>Thread-safe. Signing runs on the calling thread (an EC key generation and one signature: well
 * under a millisecond to a few milliseconds).
 */
public final class LocalCertificateAuthority {

  private static final Logger log = LoggerFactory.getLogger(LocalCertificateAuthority.class);
  static final String STATE_SUBDIR = "ca";
  static final String ROOT_CERT_FILE = "root-cert.pem";
  static final String ROOT_KEY_FILE = "root-key.pem";
  static final String LOCK_FILE = ".lock";
  /** File locks are per process: threads of one JVM serialize here first. */
  private static final Object STATE_LOCK = new Object();

  private static final Duration ROOT_VALIDITY = Duration.ofDays(3650);
  private static final Duration BACKDATE = Duration.ofMinutes(1);

  private final String trustDomain;
  private final X509Certificate root;
  private final PrivateKey rootKey;
  private final TrustBundle bundle;
  private final Clock clock;
  private final SecureRandom random = new SecureRandom();

  private LocalCertificateAuthority(String trustDomain, X509Certificate root, PrivateKey rootKey, Clock clock) {
    this.trustDomain = trustDomain;
    this.root = root;
    this.rootKey = rootKey;
    this.bundle = TrustBundle.of(root);
    this.clock = clock;
  }

  /** A fresh root for {@code trustDomain}. */
  public static LocalCertificateAuthority create(String trustDomain) {
    return create(trustDomain, Clock.systemUTC());
  }

  public static LocalCertificateAuthority create(String trustDomain, Clock clock) {
    Objects.requireNonNull(trustDomain, "trustDomain");
    new SpiffeId(trustDomain, "x", "x"); // validates the trust domain
    try {
      KeyPair kp = newKeyPair();
      Instant now = clock.instant();
      X500Name subject = new X500Name("O=" + trustDomain + ",CN=ambientj local root CA");
      X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(
          subject, serial(new SecureRandom()), Date.from(now.minus(BACKDATE)),
          Date.from(now.plus(ROOT_VALIDITY)), subject, kp.getPublic());
      JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
      b.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
      b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
      b.addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(kp.getPublic()));
      X509Certificate cert = sign(b, kp.getPrivate());
      return new LocalCertificateAuthority(trustDomain, cert, kp.getPrivate(), clock);
    } catch (Exception e) {
      throw new IllegalStateException("cannot create a root CA for trust domain " + trustDomain, e);
    }
  }

  /**
   * The local CA root kept in {@code stateDir}, created there on first use, so that separate
   * {@code ./mesh} processes (ztunnels, waypoints) share one root and trust each other.
   *
   * <p>Layout: {@code <stateDir>/ca/root-cert.pem} (0644) and {@code <stateDir>/ca/root-key.pem}
   * (0600), PEM. Creation is atomic and safe against concurrent starts: creators serialize on an
   * exclusive lock on {@code <stateDir>/ca/.lock} (across processes, and on a monitor within one
   * JVM, where file locks do not exclude); each file is written to a temporary file with its final
   * mode and published by a hard link, the key first, so a reader that sees the certificate also
   * sees the key, and a process that does not take the lock (an older {@code ./mesh}) cannot
   * overwrite a published root — its link fails and it loads ours.
   *
   * <p>Blocking (file I/O, a lock): call at start-up, never on an event loop.
   *
   * @throws IOException if the directory cannot be created or the files read or written, or if
   *     only one of the two files exists (a damaged state directory — the message says so)
   */
  public static LocalCertificateAuthority loadOrCreate(Path stateDir, String trustDomain) throws IOException {
    Path dir = stateDir.resolve(STATE_SUBDIR);
    Path cert = dir.resolve(ROOT_CERT_FILE);
    Path key = dir.resolve(ROOT_KEY_FILE);
    if (Files.exists(cert) && Files.exists(key)) {
      return load(trustDomain, cert, key);
    }
    Files.createDirectories(dir);
    synchronized (STATE_LOCK) {
      try (FileChannel lockFile = FileChannel.open(dir.resolve(LOCK_FILE), StandardOpenOption.CREATE,
              StandardOpenOption.WRITE);
          FileLock ignored = lockFile.lock()) {
        if (Files.exists(cert) && Files.exists(key)) {
          return load(trustDomain, cert, key); // another process created it while we waited
        }
        if (Files.exists(cert) || Files.exists(key)) {
          awaitBoth(cert, key); // an unlocked creator between its two links
        }
        if (Files.exists(cert) && Files.exists(key)) {
          return load(trustDomain, cert, key);
        }
        if (Files.exists(cert) || Files.exists(key)) {
          throw new IOException("incomplete local CA in " + dir + ": " + (Files.exists(key) ? cert : key)
              + " is missing — remove " + dir + " to create a new root (workload certificates issued "
              + "from the old one will stop being trusted)");
        }
        LocalCertificateAuthority ca = create(trustDomain);
        if (!publish(dir, key, ca.rootPrivateKeyPem(), "rw-------")) {
          awaitBoth(cert, key);
          return load(trustDomain, cert, key);
        }
        publish(dir, cert, ca.rootPem(), "rw-r--r--");
        log.info("created a local root CA for trust domain {} in {}", trustDomain, dir);
        return ca;
      }
    }
  }

  /** Writes {@code text} to a temporary file with {@code mode}, then links it as {@code target}; false if it exists. */
  private static boolean publish(Path dir, Path target, String text, String mode) throws IOException {
    Path tmp = Files.createTempFile(dir, target.getFileName() + ".", ".tmp",
        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString(mode)));
    try {
      Files.writeString(tmp, text, StandardCharsets.US_ASCII, StandardOpenOption.TRUNCATE_EXISTING);
      Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString(mode)); // the umask may have narrowed it
      try (FileChannel c = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
        c.force(true);
      }
      Files.createLink(target, tmp); // fails if the name exists: never replaces a published root
      return true;
    } catch (FileAlreadyExistsException e) {
      return false;
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  private static void awaitBoth(Path cert, Path key) throws IOException {
    for (int i = 0; i < 100 && !(Files.exists(cert) && Files.exists(key)); i++) {
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted while waiting for " + cert, e);
      }
    }
  }

  private static LocalCertificateAuthority load(String trustDomain, Path cert, Path key) throws IOException {
    Set<PosixFilePermission> perms = Files.getPosixFilePermissions(key);
    if (perms.stream().anyMatch(p -> !p.name().startsWith("OWNER"))) {
      log.warn("{} is readable by others ({}); it should be 0600", key, PosixFilePermissions.toString(perms));
    }
    try {
      LocalCertificateAuthority ca = fromPem(trustDomain, Files.readString(cert, StandardCharsets.US_ASCII),
          Files.readString(key, StandardCharsets.US_ASCII));
      log.info("using the local root CA in {}", cert.getParent());
      return ca;
    } catch (RuntimeException e) {
      throw new IOException("cannot read the local CA in " + cert.getParent() + ": " + e.getMessage(), e);
    }
  }

  /** A CA from a persisted root certificate and its key (see {@link #rootPem()}, {@link #rootPrivateKeyPem()}). */
  public static LocalCertificateAuthority fromPem(String trustDomain, String rootCertPem, String rootKeyPem) {
    X509Certificate cert = Pem.parseCertificates(rootCertPem).get(0);
    return new LocalCertificateAuthority(trustDomain, cert, Pem.parsePrivateKey(rootKeyPem), Clock.systemUTC());
  }

  public String trustDomain() {
    return trustDomain;
  }

  public X509Certificate root() {
    return root;
  }

  public TrustBundle trustBundle() {
    return bundle;
  }

  public String rootPem() {
    return Pem.certificate(root);
  }

  public String rootPrivateKeyPem() {
    return Pem.privateKey(rootKey);
  }

  /** Issues a leaf for {@code id} valid for {@code ttl}, with a fresh EC P-256 key. */
  public WorkloadCertificate issue(SpiffeId id, Duration ttl) {
    try {
      KeyPair kp = newKeyPair();
      X509Certificate leaf = sign(id, kp.getPublic(), ttl);
      return new WorkloadCertificate(id, List.of(leaf), kp.getPrivate(), bundle);
    } catch (GeneralSecurityException | RuntimeException e) {
      throw new IllegalStateException("cannot issue a certificate for " + id, e);
    }
  }

  /** Signs a leaf for a public key the caller generated (the CSR path). */
  public X509Certificate sign(SpiffeId id, PublicKey key, Duration ttl) throws GeneralSecurityException {
    Instant now = clock.instant();
    try {
      JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
      X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(
          root, serial(random), Date.from(now.minus(BACKDATE)), Date.from(now.plus(ttl)),
          new X500Name(new org.bouncycastle.asn1.x500.RDN[0]), key);
      b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
      b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
      b.addExtension(Extension.extendedKeyUsage, false,
          new ExtendedKeyUsage(new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}));
      b.addExtension(Extension.subjectAlternativeName, true,
          new GeneralNames(new GeneralName(GeneralName.uniformResourceIdentifier, id.toString())));
      b.addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(key));
      b.addExtension(Extension.authorityKeyIdentifier, false, ext.createAuthorityKeyIdentifier(root));
      return sign(b, rootKey);
    } catch (GeneralSecurityException e) {
      throw e;
    } catch (Exception e) {
      throw new GeneralSecurityException("cannot sign a certificate for " + id, e);
    }
  }

  /**
   * An {@link IdentityProvider} that issues from this CA, caches per identity and re-issues when
   * half of the lifetime has passed (as ztunnel renews).
   */
  public IdentityProvider asIdentityProvider(Duration ttl) {
    ConcurrentMap<SpiffeId, WorkloadCertificate> cache = new ConcurrentHashMap<>();
    return id -> {
      WorkloadCertificate c = cache.compute(id, (k, old) -> {
        if (old != null) {
          Instant half = old.notBefore().plus(Duration.between(old.notBefore(), old.notAfter()).dividedBy(2));
          if (clock.instant().isBefore(half)) {
            return old;
          }
        }
        return issue(k, ttl);
      });
      return CompletableFuture.completedFuture(c);
    };
  }

  private static KeyPair newKeyPair() throws GeneralSecurityException {
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(new ECGenParameterSpec("secp256r1"));
    return g.generateKeyPair();
  }

  private static BigInteger serial(SecureRandom random) {
    return new BigInteger(127, random).setBit(126); // positive, fixed length, never zero
  }

  private static X509Certificate sign(X509v3CertificateBuilder b, PrivateKey key) throws Exception {
    ContentSigner signer = new JcaContentSignerBuilder("SHA256withECDSA").build(key);
    return new JcaX509CertificateConverter().getCertificate(b.build(signer));
  }
}
