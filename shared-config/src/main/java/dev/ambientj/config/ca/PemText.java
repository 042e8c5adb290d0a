package dev.ambientj.config.ca;

import java.io.ByteArrayInputStream;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * The PEM a node proxy needs — writing a key or a request, reading certificates — with the JDK
 * only. The config server's side ({@link CaPem}: requests parsed, certificates built) uses
 * BouncyCastle; a proxy that touched it would load BouncyCastle's signed jars, which cost the JVM
 * about 6 MiB of verified-manifest heap and the CPU to check every class loaded from them.
 */
final class PemText {
  private PemText() {}

  /**
   * A PEM block: {@code -----BEGIN <type>-----}, the DER in base64 lines of 64 characters, the end
   * line.
   */
  static String block(String type, byte[] der) {
    return "-----BEGIN " + type + "-----\n"
        + Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(der)
        + "\n-----END " + type + "-----\n";
  }

  /** A private key as a PKCS#8 {@code PRIVATE KEY} block (not the traditional OpenSSL form). */
  static String privateKey(PrivateKey key) {
    if (!"PKCS#8".equals(key.getFormat())) {
      throw new IllegalStateException("cannot encode a " + key.getAlgorithm() + " key in "
          + key.getFormat() + " as PKCS#8");
    }
    return block("PRIVATE KEY", key.getEncoded());
  }

  /**
   * Every {@code CERTIFICATE} block of {@code pem}, in order; other blocks are ignored.
   *
   * @throws IllegalArgumentException if the text is not PEM or a certificate does not parse
   */
  static List<X509Certificate> certificates(String pem) {
    List<X509Certificate> out = new ArrayList<>();
    String begin = "-----BEGIN CERTIFICATE-----";
    String end = "-----END CERTIFICATE-----";
    try {
      CertificateFactory factory = CertificateFactory.getInstance("X.509");
      for (int from = pem.indexOf(begin); from >= 0; from = pem.indexOf(begin, from)) {
        int to = pem.indexOf(end, from);
        if (to < 0) {
          throw new IllegalArgumentException("no " + end + " after " + begin);
        }
        byte[] der = Base64.getMimeDecoder().decode(pem.substring(from + begin.length(), to));
        out.add((X509Certificate) factory.generateCertificate(new ByteArrayInputStream(der)));
        from = to + end.length();
      }
    } catch (CertificateException | IllegalArgumentException e) {
      throw new IllegalArgumentException("not a PEM certificate: " + e.getMessage(), e);
    }
    return out;
  }
}
