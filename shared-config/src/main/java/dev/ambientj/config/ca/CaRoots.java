package dev.ambientj.config.ca;

import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Objects;

/**
 * What the CA signs with and what peers trust: the current root and the trust bundle.
 *
 * <p>Invariant: the bundle is non-empty and holds {@code signer}'s certificate. During a root
 * rotation it holds the previous roots too, so that leaves issued before the rotation still verify.
 */
public record CaRoots(CaRoot signer, List<X509Certificate> trustBundle) {
  public CaRoots {
    Objects.requireNonNull(signer, "signer");
    trustBundle = List.copyOf(trustBundle);
    if (!trustBundle.contains(signer.certificate())) {
      throw new IllegalArgumentException("the trust bundle must hold the signing root");
    }
  }

  /** One root that is also the whole bundle. */
  public static CaRoots of(CaRoot root) {
    return new CaRoots(root, List.of(root.certificate()));
  }

  /** The bundle as concatenated PEM blocks (what {@code roots.pem} holds). */
  public String trustBundlePem() {
    return CaPem.certificates(trustBundle);
  }
}
