package dev.ambientj.hbone.identity;

import java.util.concurrent.CompletableFuture;

/**
 * Supplies the certificate for an identity the proxy acts as. Implementations complete at once
 * when the certificate is cached and never block the caller (callers may be event loops).
 */
public interface IdentityProvider {

  CompletableFuture<WorkloadCertificate> fetchCertificate(SpiffeId id);
}
