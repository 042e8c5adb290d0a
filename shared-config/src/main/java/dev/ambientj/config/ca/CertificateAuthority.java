package dev.ambientj.config.ca;

import java.io.IOException;
import java.security.GeneralSecurityException;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.interfaces.RSAPublicKey;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.net.InetAddress;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.pkcs.Attribute;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.Extensions;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.asn1.x9.X9ObjectIdentifiers;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.PKCSException;

/**
 * Signs workload certificates from PKCS#10 requests, as istiod's CA does for ztunnel.
 *
 * <p>A request is {@linkplain #validate validated}, then the caller authorizes the identity it
 * names (the gRPC service checks the node), then it is {@linkplain #issue issued}. Validation
 * requires: a PEM {@code CERTIFICATE REQUEST} whose self-signature verifies (proof of possession);
 * an EC P-256 key (what ztunnel sends) or RSA of at least 2048 bits; a subjectAltName extension
 * request holding exactly one name, a URI that is an Istio SPIFFE id in this CA's trust domain.
 * Nothing else of the request is copied into the certificate (its subject is ignored).
 *
 * <p>Issued leaf: empty subject; the SPIFFE id as the only SAN, critical (an empty subject
 * requires it); {@code CA:false}; {@code digitalSignature} (+{@code keyEncipherment} for RSA);
 * EKU serverAuth + clientAuth; subject and authority key ids; a random 127-bit serial; valid from
 * one minute ago (clock skew) for the requested lifetime, at most {@link #maxValidity()} and never
 * past the root's expiry. The chain returned is leaf first, signing root last.
 *
 * <p>Thread-safe; the signer is read once per issue from the roots supplier, so a root rotation
 * ({@link CaStateDirectory#rotateRoot}) takes effect on the next request.
 */
public final class CertificateAuthority {
  /** Istio's {@code SECRET_TTL} default: what ztunnel asks for, and what an unset request gets. */
  public static final Duration DEFAULT_VALIDITY = Duration.ofHours(24);

  private static final Duration BACKDATE = CaRoot.BACKDATE;
  private static final KeyPurposeId[] EKU = {
    KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth
  };

  private final String trustDomain;
  private final Supplier<CaRoots> roots;
  private final Duration maxValidity;
  private final Clock clock;
  private final SecureRandom random = new SecureRandom();

  /**
   * @param roots read on every issue; must not block
   * @param maxValidity the longest lifetime granted; longer requests are shortened to it
   */
  public CertificateAuthority(
      String trustDomain, Supplier<CaRoots> roots, Duration maxValidity, Clock clock) {
    SpiffeUri.checkTrustDomain(Objects.requireNonNull(trustDomain, "trustDomain"), trustDomain);
    this.trustDomain = trustDomain;
    this.roots = Objects.requireNonNull(roots, "roots");
    if (maxValidity.isNegative() || maxValidity.isZero()) {
      throw new IllegalArgumentException("maxValidity must be positive: " + maxValidity);
    }
    this.maxValidity = maxValidity;
    this.clock = Objects.requireNonNull(clock, "clock");
  }

  /** A CA signing with the root of {@code state}, granting at most {@code maxValidity}. */
  public static CertificateAuthority of(CaStateDirectory state, Duration maxValidity) {
    return new CertificateAuthority(state.trustDomain(), state::roots, maxValidity, Clock.systemUTC());
  }

  /** A CA with a fresh root held only in memory (tests, and a proxy's stand-alone fake CA). */
  public static CertificateAuthority inMemory(String trustDomain) {
    CaRoots r = CaRoots.of(CaRoot.generate(trustDomain, Clock.systemUTC(), CaRoot.DEFAULT_VALIDITY));
    return new CertificateAuthority(trustDomain, () -> r, DEFAULT_VALIDITY, Clock.systemUTC());
  }

  public String trustDomain() {
    return trustDomain;
  }

  public Duration maxValidity() {
    return maxValidity;
  }

  /** The roots peers must trust now (the current root and, during a rotation, previous ones). */
  public List<X509Certificate> trustBundle() {
    return roots.get().trustBundle();
  }

  /**
   * Checks a PEM CSR: proof of possession, key type, the SPIFFE SAN and its trust domain.
   *
   * @throws CsrRejectedException saying what is wrong and what was expected
   */
  public ValidatedCsr validate(String csrPem) throws CsrRejectedException {
    if (csrPem == null || csrPem.isBlank()) {
      throw new CsrRejectedException("the CSR is empty (expected a PEM CERTIFICATE REQUEST)");
    }
    PKCS10CertificationRequest csr;
    try {
      csr = CaPem.parseCsr(csrPem);
    } catch (IllegalArgumentException e) {
      throw new CsrRejectedException(e.getMessage(), e);
    }
    SubjectPublicKeyInfo spki = csr.getSubjectPublicKeyInfo();
    PublicKey key = checkKey(spki);
    try {
      if (!csr.isSignatureValid(new JcaContentVerifierProviderBuilder().build(spki))) {
        throw new CsrRejectedException(
            "the CSR's signature does not verify with its own public key (corrupted or forged"
                + " request)");
      }
    } catch (OperatorCreationException | PKCSException e) {
      throw new CsrRejectedException("the CSR's signature cannot be checked: " + e.getMessage(), e);
    }
    String identity = sanIdentity(csr);
    return new ValidatedCsr(identity, key);
  }

  /**
   * Signs a certificate for a validated request.
   *
   * @param requestedValidity null or zero for {@link #DEFAULT_VALIDITY}; shortened to {@link
   *     #maxValidity()}
   * @return the chain, leaf first, signing root last
   * @throws IllegalArgumentException if {@code requestedValidity} is negative
   */
  public List<X509Certificate> issue(ValidatedCsr csr, Duration requestedValidity) {
    return sign(csr.publicKey(), effectiveValidity(requestedValidity), csr.identity(),
        new GeneralName[] {new GeneralName(GeneralName.uniformResourceIdentifier, csr.identity())});
  }

  /**
   * A certificate for the config server's own TLS listener, not for a workload: {@code identity}
   * (a SPIFFE id of this trust domain) and {@code dnsNames} and {@code addresses} as SANs, so that
   * clients verify it by hostname ({@code istiod.istio-system.svc}) or by SPIFFE id. Not bounded
   * by {@link #maxValidity()} (the server is not a workload asking for a lifetime), only by the
   * root's expiry.
   *
   * @return the chain, leaf first, signing root last
   */
  public List<X509Certificate> issueServing(PublicKey key, String identity, List<String> dnsNames,
      List<InetAddress> addresses, Duration validity) {
    if (!SpiffeUri.parse(identity).trustDomain().equals(trustDomain)) {
      throw new IllegalArgumentException(identity + " is not in trust domain " + trustDomain);
    }
    List<GeneralName> names = new ArrayList<>();
    names.add(new GeneralName(GeneralName.uniformResourceIdentifier, identity));
    dnsNames.forEach(d -> names.add(new GeneralName(GeneralName.dNSName, d)));
    addresses.forEach(a -> names.add(new GeneralName(GeneralName.iPAddress,
        new org.bouncycastle.asn1.DEROctetString(a.getAddress()))));
    return sign(key, validity, identity, names.toArray(GeneralName[]::new));
  }

  private List<X509Certificate> sign(PublicKey key, Duration ttl, String identity,
      GeneralName[] sans) {
    CaRoot signer = roots.get().signer();
    X509Certificate root = signer.certificate();
    Instant now = clock.instant();
    Instant notAfter = now.plus(ttl);
    if (notAfter.isAfter(root.getNotAfter().toInstant())) {
      notAfter = root.getNotAfter().toInstant();
    }
    try {
      JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
      X509v3CertificateBuilder b =
          new JcaX509v3CertificateBuilder(
              root,
              CaRoot.serial(random),
              Date.from(now.minus(BACKDATE)),
              Date.from(notAfter),
              new X500Name(new RDN[0]),
              key);
      b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
      int usage = KeyUsage.digitalSignature;
      if (key instanceof RSAPublicKey) {
        usage |= KeyUsage.keyEncipherment;
      }
      b.addExtension(Extension.keyUsage, true, new KeyUsage(usage));
      b.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(EKU));
      b.addExtension(Extension.subjectAlternativeName, true, new GeneralNames(sans));
      b.addExtension(
          Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(key));
      b.addExtension(
          Extension.authorityKeyIdentifier, false, ext.createAuthorityKeyIdentifier(root));
      String alg = signer.privateKey().getAlgorithm().equals("RSA") ? "SHA256withRSA" : "SHA256withECDSA";
      var contentSigner = new JcaContentSignerBuilder(alg).build(signer.privateKey());
      X509Certificate leaf = new JcaX509CertificateConverter().getCertificate(b.build(contentSigner));
      return List.of(leaf, root);
    } catch (GeneralSecurityException | OperatorCreationException | IOException e) {
      throw new IllegalStateException("cannot sign a certificate for " + identity, e);
    }
  }

  /** The lifetime {@link #issue} grants for {@code requested} (before the root's expiry cap). */
  public Duration effectiveValidity(Duration requested) {
    if (requested == null || requested.isZero()) {
      return DEFAULT_VALIDITY.compareTo(maxValidity) <= 0 ? DEFAULT_VALIDITY : maxValidity;
    }
    if (requested.isNegative()) {
      throw new IllegalArgumentException(
          "validity_duration " + requested.toSeconds() + "s is negative (expected seconds > 0)");
    }
    return requested.compareTo(maxValidity) <= 0 ? requested : maxValidity;
  }

  private static PublicKey checkKey(SubjectPublicKeyInfo spki) throws CsrRejectedException {
    ASN1ObjectIdentifier alg = spki.getAlgorithm().getAlgorithm();
    PublicKey key;
    try {
      key = new JcaPEMKeyConverter().getPublicKey(spki);
    } catch (IOException e) {
      throw new CsrRejectedException("the CSR's public key does not parse: " + e.getMessage(), e);
    }
    if (alg.equals(X9ObjectIdentifiers.id_ecPublicKey)) {
      var params = spki.getAlgorithm().getParameters();
      if (!X9ObjectIdentifiers.prime256v1.equals(params)) {
        throw new CsrRejectedException(
            "the CSR's EC key is not on P-256 (curve " + params + "; expected ECDSA P-256, as"
                + " ztunnel generates, or RSA >= 2048 bits)");
      }
      return key;
    }
    if (alg.equals(PKCSObjectIdentifiers.rsaEncryption)) {
      int bits = ((RSAPublicKey) key).getModulus().bitLength();
      if (bits < 2048) {
        throw new CsrRejectedException(
            "the CSR's RSA key has " + bits + " bits (expected at least 2048, or ECDSA P-256)");
      }
      return key;
    }
    throw new CsrRejectedException(
        "the CSR's key algorithm " + alg + " is not supported (expected ECDSA P-256 or RSA >= 2048"
            + " bits)");
  }

  private String sanIdentity(PKCS10CertificationRequest csr) throws CsrRejectedException {
    Attribute[] attrs = csr.getAttributes(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest);
    GeneralNames sans = null;
    if (attrs.length > 0 && attrs[0].getAttrValues().size() > 0) {
      Extensions exts;
      try {
        exts = Extensions.getInstance(attrs[0].getAttrValues().getObjectAt(0));
      } catch (IllegalArgumentException e) {
        throw new CsrRejectedException("the CSR's extension request does not parse", e);
      }
      sans = GeneralNames.fromExtensions(exts, Extension.subjectAlternativeName);
    }
    if (sans == null || sans.getNames().length == 0) {
      throw new CsrRejectedException(
          "the CSR has no subjectAltName (expected one URI SAN: " + SpiffeUri.FORM + ")");
    }
    GeneralName[] names = sans.getNames();
    if (names.length != 1 || names[0].getTagNo() != GeneralName.uniformResourceIdentifier) {
      throw new CsrRejectedException(
          "the CSR's subjectAltName holds " + describe(names) + " (expected exactly one URI SAN: "
              + SpiffeUri.FORM + ")");
    }
    String uri = names[0].getName().toString();
    SpiffeUri id;
    try {
      id = SpiffeUri.parse(uri);
    } catch (IllegalArgumentException e) {
      throw new CsrRejectedException("the CSR's URI SAN: " + e.getMessage(), e);
    }
    if (!id.trustDomain().equals(trustDomain)) {
      throw new CsrRejectedException(
          "the CSR asks for " + uri + " in trust domain '" + id.trustDomain()
              + "' (this CA signs for trust domain '" + trustDomain + "')");
    }
    return id.toString();
  }

  private static String describe(GeneralName[] names) {
    StringBuilder b = new StringBuilder();
    for (GeneralName n : names) {
      if (!b.isEmpty()) {
        b.append(", ");
      }
      b.append(switch (n.getTagNo()) {
        case GeneralName.uniformResourceIdentifier -> "URI:";
        case GeneralName.dNSName -> "DNS:";
        case GeneralName.iPAddress -> "IP:";
        case GeneralName.rfc822Name -> "email:";
        default -> "name type " + n.getTagNo() + ":";
      });
      b.append(n.getTagNo() == GeneralName.iPAddress ? "<address>" : n.getName());
    }
    return names.length + " names (" + b + ")";
  }
}
