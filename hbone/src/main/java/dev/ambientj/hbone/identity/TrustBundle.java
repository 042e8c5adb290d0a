package dev.ambientj.hbone.identity;

import java.security.cert.X509Certificate;
import java.util.List;

/**
 * The roots a peer's certificate chain must lead to. More than one root is allowed (during a root
 * rotation both the old and the new root are trusted).
 */
public record TrustBundle(List<X509Certificate> roots) {

  public TrustBundle {
    roots = List.copyOf(roots);
    if (roots.isEmpty()) {
      throw new IllegalArgumentException("a trust bundle needs at least one root certificate");
    }
  }

  public static TrustBundle of(X509Certificate... roots) {
    return new TrustBundle(List.of(roots));
  }

  /** The roots as concatenated PEM blocks. */
  public String toPem() {
    return Pem.certificates(roots);
  }
}
