package dev.ambientj.config.ca;

import java.security.PublicKey;
import java.util.Objects;

/**
 * A CSR whose signature, key and SAN the CA has checked ({@link CertificateAuthority#validate}).
 *
 * @param identity the SPIFFE id the CSR asks for, in the CA's trust domain
 * @param publicKey the key to certify (EC P-256, or RSA of at least 2048 bits)
 */
public record ValidatedCsr(String identity, PublicKey publicKey) {
  public ValidatedCsr {
    Objects.requireNonNull(identity, "identity");
    Objects.requireNonNull(publicKey, "publicKey");
  }
}
