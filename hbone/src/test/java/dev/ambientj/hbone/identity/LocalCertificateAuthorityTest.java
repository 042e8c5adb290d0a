package dev.ambientj.hbone.identity;

import static org.assertj.core.api.Assertions.assertThat;

import java.security.cert.CertPathValidator;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECPublicKey;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class LocalCertificateAuthorityTest {

  final LocalCertificateAuthority ca = LocalCertificateAuthority.create("cluster.local");
  final SpiffeId id = new SpiffeId("cluster.local", "default", "sleep");

  @Test
  void rootIsASelfSignedP256Ca() throws Exception {
    X509Certificate root = ca.root();
    root.verify(root.getPublicKey());
    assertThat(root.getBasicConstraints()).isGreaterThanOrEqualTo(0); // CA:true
    assertThat(root.getKeyUsage()[5]).as("keyCertSign").isTrue();
    assertThat(((ECPublicKey) root.getPublicKey()).getParams().getCurve().getField().getFieldSize()).isEqualTo(256);
    assertThat(root.getCriticalExtensionOIDs()).contains("2.5.29.19", "2.5.29.15");
  }

  @Test
  void leafCarriesTheSpiffeIdAndChainsToTheRoot() throws Exception {
    WorkloadCertificate cert = ca.issue(id, Duration.ofHours(1));
    X509Certificate leaf = cert.leaf();
    assertThat(cert.identity()).isEqualTo(id);
    assertThat(leaf.getSubjectAlternativeNames()).containsExactly(List.of(6, id.toString()));
    assertThat(leaf.getBasicConstraints()).isEqualTo(-1);
    assertThat(leaf.getKeyUsage()[0]).as("digitalSignature").isTrue();
    assertThat(leaf.getExtendedKeyUsage()).contains("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2");
    assertThat(leaf.getSerialNumber().signum()).isPositive();
    assertThat(cert.notAfter()).isBetween(Instant.now().plus(Duration.ofMinutes(59)), Instant.now().plus(Duration.ofMinutes(61)));
    PKIXParameters p = new PKIXParameters(Set.of(new TrustAnchor(ca.root(), null)));
    p.setRevocationEnabled(false);
    CertPathValidator.getInstance("PKIX").validate(CertificateFactory.getInstance("X.509").generateCertPath(List.of(leaf)), p);
  }

  @Test
  void serialsDiffer() {
    assertThat(ca.issue(id, Duration.ofHours(1)).leaf().getSerialNumber())
        .isNotEqualTo(ca.issue(id, Duration.ofHours(1)).leaf().getSerialNumber());
  }

  @Test
  void pemRoundTrips() {
    WorkloadCertificate cert = ca.issue(id, Duration.ofHours(1));
    assertThat(Pem.parseCertificates(cert.certificateChainPem())).isEqualTo(cert.chain());
    assertThat(Pem.parsePrivateKey(cert.privateKeyPem()).getEncoded()).isEqualTo(cert.privateKey().getEncoded());
    LocalCertificateAuthority reloaded = LocalCertificateAuthority.fromPem("cluster.local", ca.rootPem(), ca.rootPrivateKeyPem());
    assertThat(reloaded.root()).isEqualTo(ca.root());
    assertThat(Pem.parseCertificates(ca.trustBundle().toPem())).containsExactly(ca.root());
  }

  @Test
  void identityProviderCaches() {
    IdentityProvider p = ca.asIdentityProvider(Duration.ofHours(1));
    assertThat(p.fetchCertificate(id).join()).isSameAs(p.fetchCertificate(id).join());
  }
}
