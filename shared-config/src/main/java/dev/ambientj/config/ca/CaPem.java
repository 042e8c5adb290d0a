package dev.ambientj.config.ca;

import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.List;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;

/** PEM reading and writing for the CA (certificates, PKCS#8 keys, PKCS#10 requests). */
final class CaPem {
  private CaPem() {}

  static String write(Object o) {
    StringWriter out = new StringWriter();
    try (JcaPEMWriter w = new JcaPEMWriter(out)) {
      w.writeObject(o);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toString();
  }

  /** A private key as a PKCS#8 {@code PRIVATE KEY} block (not the traditional OpenSSL form). */
  static String privateKey(PrivateKey key) {
    return PemText.privateKey(key);
  }

  static String certificates(List<X509Certificate> certs) {
    StringBuilder b = new StringBuilder();
    for (X509Certificate c : certs) {
      b.append(write(c));
    }
    return b.toString();
  }

  /**
   * Every {@code CERTIFICATE} block of {@code pem}, in order; other blocks are ignored.
   *
   * @throws IllegalArgumentException if the text is not PEM or a certificate does not parse
   */
  static List<X509Certificate> parseCertificates(String pem) {
    return PemText.certificates(pem);
  }

  /** A {@code PRIVATE KEY} (PKCS#8) or {@code EC/RSA PRIVATE KEY} block. */
  static PrivateKey parsePrivateKey(String pem) {
    try (PEMParser p = new PEMParser(new StringReader(pem))) {
      Object o = p.readObject();
      JcaPEMKeyConverter conv = new JcaPEMKeyConverter();
      if (o instanceof PrivateKeyInfo info) {
        return conv.getPrivateKey(info);
      }
      if (o instanceof PEMKeyPair kp) {
        return conv.getKeyPair(kp).getPrivate();
      }
      throw new IllegalArgumentException(
          "expected a PEM private key, found " + (o == null ? "nothing" : o.getClass().getSimpleName()));
    } catch (IOException e) {
      throw new IllegalArgumentException("not a PEM private key: " + e.getMessage(), e);
    }
  }

  /**
   * The first {@code CERTIFICATE REQUEST} block.
   *
   * @throws IllegalArgumentException if there is none or it does not parse
   */
  static PKCS10CertificationRequest parseCsr(String pem) {
    try (PEMParser p = new PEMParser(new StringReader(pem))) {
      Object o = p.readObject();
      if (o instanceof PKCS10CertificationRequest csr) {
        return csr;
      }
      throw new IllegalArgumentException(
          "expected a PEM CERTIFICATE REQUEST, found "
              + (o == null ? "no PEM block" : o.getClass().getSimpleName()));
    } catch (IOException | RuntimeException e) {
      if (e instanceof IllegalArgumentException iae) {
        throw iae;
      }
      throw new IllegalArgumentException("the CSR is not valid PEM/DER: " + e.getMessage(), e);
    }
  }
}
