package dev.ambientj.hbone.identity;

import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.List;
import java.util.Objects;

/**
 * A workload's certificate: the chain it presents (leaf first, then intermediates), its private
 * key, and the roots it trusts when verifying peers.
 */
public record WorkloadCertificate(
    SpiffeId identity, List<X509Certificate> chain, PrivateKey privateKey, TrustBundle trustBundle) {

  public WorkloadCertificate {
    Objects.requireNonNull(identity, "identity");
    Objects.requireNonNull(privateKey, "privateKey");
    Objects.requireNonNull(trustBundle, "trustBundle");
    chain = List.copyOf(chain);
    if (chain.isEmpty()) {
      throw new IllegalArgumentException("certificate chain for " + identity + " is empty");
    }
  }

  public X509Certificate leaf() {
    return chain.get(0);
  }

  public Instant notBefore() {
    return leaf().getNotBefore().toInstant();
  }

  public Instant notAfter() {
    return leaf().getNotAfter().toInstant();
  }

  /** The chain (leaf first) as PEM. */
  public String certificateChainPem() {
    return Pem.certificates(chain);
  }

  /** The private key as unencrypted PKCS#8 PEM. Handle with care. */
  public String privateKeyPem() {
    return Pem.privateKey(privateKey);
  }

  @Override
  public String toString() {
    return "WorkloadCertificate[" + identity + ", notAfter=" + notAfter() + "]";
  }
}
