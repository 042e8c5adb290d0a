package dev.ambientj.config.ca;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Signature;
import java.security.spec.ECGenParameterSpec;
import java.util.Objects;

/**
 * Makes what a node proxy sends the CA for one identity: a fresh ECDSA P-256 key pair and a PEM
 * PKCS#10 request signed with it (SHA-256), with an empty subject and the SPIFFE id as the only
 * SAN, as ztunnel's {@code csr.rs} builds it.
 *
 * <p>Written with the JDK alone (the request's DER is small and fixed in shape), so that a proxy
 * never loads BouncyCastle ({@link PemText} says why).
 *
 * <p>Key generation and one signature: about a millisecond; call it off any event loop.
 */
public final class CsrFactory {
  private CsrFactory() {}

  /**
   * A key pair and its request.
   *
   * @param csrPem the {@code CERTIFICATE REQUEST} PEM block to send as {@code
   *     IstioCertificateRequest.csr}
   * @param privateKeyPem the private key as PKCS#8 PEM, to pair with the returned chain
   */
  public record Generated(String identity, KeyPair keyPair, String csrPem, String privateKeyPem) {}

  /**
   * @param spiffeId {@code spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>}
   * @throws IllegalArgumentException if {@code spiffeId} is not of that form
   */
  public static Generated create(String spiffeId) {
    Objects.requireNonNull(spiffeId, "spiffeId");
    String id = SpiffeUri.parse(spiffeId).toString();
    try {
      KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
      g.initialize(new ECGenParameterSpec("secp256r1"));
      KeyPair kp = g.generateKeyPair();
      byte[] info = requestInfo(kp, id);
      Signature signer = Signature.getInstance("SHA256withECDSA");
      signer.initSign(kp.getPrivate());
      signer.update(info);
      byte[] signature = signer.sign(); // DER SEQUENCE {r, s}
      byte[] csr = der(0x30, info, ECDSA_WITH_SHA256, der(0x03, new byte[] {0}, signature));
      return new Generated(id, kp, PemText.block("CERTIFICATE REQUEST", csr),
          PemText.privateKey(kp.getPrivate()));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("cannot create a CSR for " + spiffeId, e);
    }
  }

  // DER of the fixed parts (RFC 2986, RFC 5280, RFC 5758).
  /** AlgorithmIdentifier ecdsa-with-SHA256 (1.2.840.10045.4.3.2), no parameters. */
  private static final byte[] ECDSA_WITH_SHA256 =
      {0x30, 0x0a, 0x06, 0x08, 0x2a, (byte) 0x86, 0x48, (byte) 0xce, 0x3d, 0x04, 0x03, 0x02};
  /** OID pkcs-9-at-extensionRequest (1.2.840.113549.1.9.14). */
  private static final byte[] EXTENSION_REQUEST =
      {0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01, 0x09, 0x0e};
  /** OID id-ce-subjectAltName (2.5.29.17). */
  private static final byte[] SUBJECT_ALT_NAME = {0x06, 0x03, 0x55, 0x1d, 0x11};
  /** BOOLEAN TRUE: the SAN is critical, the subject being empty (RFC 5280 4.2.1.6). */
  private static final byte[] CRITICAL = {0x01, 0x01, (byte) 0xff};

  /**
   * CertificationRequestInfo: version 0, an empty subject, the key's SubjectPublicKeyInfo (the
   * JDK's X.509 encoding of an EC public key), and one attribute, extensionRequest, holding the
   * critical subjectAltName with {@code uri} as its only uniformResourceIdentifier.
   */
  private static byte[] requestInfo(KeyPair kp, String uri) {
    byte[] san = der(0x30, der(0x86, uri.getBytes(StandardCharsets.US_ASCII))); // GeneralNames
    byte[] extension = der(0x30, SUBJECT_ALT_NAME, CRITICAL, der(0x04, san));
    byte[] attribute = der(0x30, EXTENSION_REQUEST, der(0x31, der(0x30, extension)));
    return der(0x30,
        new byte[] {0x02, 0x01, 0x00},      // version INTEGER 0
        new byte[] {0x30, 0x00},            // subject: the empty Name
        kp.getPublic().getEncoded(),        // SubjectPublicKeyInfo
        der(0xa0, attribute));              // attributes [0] IMPLICIT SET OF
  }

  /** One DER element: {@code tag}, the definite length, then the parts concatenated. */
  static byte[] der(int tag, byte[]... parts) {
    int length = 0;
    for (byte[] p : parts) {
      length += p.length;
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream(length + 6);
    out.write(tag);
    if (length < 0x80) {
      out.write(length);
    } else if (length < 0x100) {
      out.write(0x81);
      out.write(length);
    } else if (length < 0x10000) {
      out.write(0x82);
      out.write(length >> 8);
      out.write(length);
    } else {
      throw new IllegalArgumentException("DER element of " + length + " bytes: too long for a CSR");
    }
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }
}
