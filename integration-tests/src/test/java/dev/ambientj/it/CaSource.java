package dev.ambientj.it;

import dev.ambientj.config.ca.CaClient;
import dev.ambientj.hbone.identity.CertificateManager;
import dev.ambientj.hbone.identity.TrustBundle;
import dev.ambientj.hbone.identity.WorkloadCertificate;
import java.time.Duration;
import java.util.concurrent.ForkJoinPool;

/** Certificates from a config server's CA, as ztunnel and the waypoint get them. */
final class CaSource {
  private CaSource() {}

  static CertificateManager.CertificateSource of(CaClient ca, Duration validity) {
    return id -> ca.issue(id.toString(), validity, ForkJoinPool.commonPool())
        .thenApply(c -> new WorkloadCertificate(id, c.chain(), c.privateKey(), TrustBundle.of(c.root())));
  }
}
