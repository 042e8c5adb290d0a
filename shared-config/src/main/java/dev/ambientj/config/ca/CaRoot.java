package dev.ambientj.config.ca;

import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Date;
import java.util.Objects;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A self-signed root the CA signs with: its certificate and private key.
 *
 * <p>Generated roots are EC P-256, {@code CA:true, pathLen:0} (leaves only, no intermediates),
 * {@code keyCertSign|cRLSign}, valid {@link #DEFAULT_VALIDITY}; the subject names the trust domain
 * and the creation time, so that the roots of a bundle can be told apart during a rotation.
 */
public record CaRoot(X509Certificate certificate, PrivateKey privateKey) {
  public static final Duration DEFAULT_VALIDITY = Duration.ofDays(3650);
  static final Duration BACKDATE = Duration.ofMinutes(1);
  private static final DateTimeFormatter STAMP =
      DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss'Z'").withZone(ZoneOffset.UTC);

  public CaRoot {
    Objects.requireNonNull(certificate, "certificate");
    Objects.requireNonNull(privateKey, "privateKey");
  }

  /** A fresh root for {@code trustDomain}, valid from one minute ago for {@code validity}. */
  public static CaRoot generate(String trustDomain, Clock clock, Duration validity) {
    SpiffeUri.checkTrustDomain(trustDomain, trustDomain);
    try {
      KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
      g.initialize(new ECGenParameterSpec("secp256r1"));
      KeyPair kp = g.generateKeyPair();
      Instant now = clock.instant();
      var subject =
          new X500NameBuilder(BCStyle.INSTANCE)
              .addRDN(BCStyle.O, trustDomain)
              .addRDN(BCStyle.CN, "ambientj root CA " + STAMP.format(now))
              .build();
      X509v3CertificateBuilder b =
          new JcaX509v3CertificateBuilder(
              subject,
              serial(new SecureRandom()),
              Date.from(now.minus(BACKDATE)),
              Date.from(now.plus(validity)),
              subject,
              kp.getPublic());
      b.addExtension(Extension.basicConstraints, true, new BasicConstraints(0));
      b.addExtension(
          Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
      b.addExtension(
          Extension.subjectKeyIdentifier,
          false,
          new JcaX509ExtensionUtils().createSubjectKeyIdentifier(kp.getPublic()));
      var signer = new JcaContentSignerBuilder("SHA256withECDSA").build(kp.getPrivate());
      X509Certificate cert = new JcaX509CertificateConverter().getCertificate(b.build(signer));
      return new CaRoot(cert, kp.getPrivate());
    } catch (GeneralSecurityException | org.bouncycastle.operator.OperatorCreationException
        | org.bouncycastle.cert.CertIOException e) {
      throw new IllegalStateException("cannot create a root CA for trust domain " + trustDomain, e);
    }
  }

  /** Positive, 127 bits, never zero (RFC 5280 allows 20 octets). */
  static BigInteger serial(SecureRandom random) {
    return new BigInteger(127, random).setBit(126);
  }

  /** The certificate as PEM. */
  public String certificatePem() {
    return CaPem.write(certificate);
  }
}
