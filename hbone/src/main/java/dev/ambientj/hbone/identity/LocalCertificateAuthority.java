package dev.ambientj.hbone.identity;

import java.math.BigInteger;
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

/**
 * A certificate authority held in memory: an EC P-256 root that signs EC P-256 workload leaves.
 *
 * <p>Root: self-signed, {@code basicConstraints CA:true} (critical), {@code keyCertSign|cRLSign}
 * (critical), subject key id. Leaf: empty subject, the SPIFFE id as the only URI SAN (critical, as
 * SPIFFE X.509-SVIDs with an empty subject require), {@code CA:false}, {@code digitalSignature}
 * (critical), EKU serverAuth + clientAuth, authority/subject key ids, a random 127-bit serial,
 * validity from one minute ago (clock skew) to now + ttl.
 *
 * <p>Thread-safe. Signing runs on the calling thread (an EC key generation and one signature: well
 * under a millisecond to a few milliseconds).
 */
public final class LocalCertificateAuthority {

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
