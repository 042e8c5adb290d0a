package dev.ambientj.config.ca;

import static dev.ambientj.config.ca.TestPki.API_GATEWAY;
import static dev.ambientj.config.ca.TestPki.csrPem;
import static dev.ambientj.config.ca.TestPki.ec;
import static dev.ambientj.config.ca.TestPki.rsa;
import static dev.ambientj.config.ca.TestPki.uri;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import org.bouncycastle.asn1.x509.GeneralName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CertificateAuthorityTest {
  private static final Instant NOW = Instant.parse("2026-11-26T12:00:00Z");
  private static final Clock CLOCK = Clock.fixed(NOW, ZoneOffset.UTC);
  private static final CaRoots ROOTS =
      CaRoots.of(CaRoot.generate("cluster.local", CLOCK, CaRoot.DEFAULT_VALIDITY));

  private final CertificateAuthority ca =
      new CertificateAuthority("cluster.local", () -> ROOTS, Duration.ofHours(24), CLOCK);

  @TempDir Path tmp;

  @Test
  void issuesASpiffeLeafFromAnEcP256CsrMadeByCsrFactory() throws Exception {
    CsrFactory.Generated g = CsrFactory.create(API_GATEWAY);
    assertThat(g.csrPem()).startsWith("-----BEGIN CERTIFICATE REQUEST-----");
    assertThat(g.privateKeyPem()).startsWith("-----BEGIN PRIVATE KEY-----");

    ValidatedCsr csr = ca.validate(g.csrPem());
    assertThat(csr.identity()).isEqualTo(API_GATEWAY);
    List<X509Certificate> chain = ca.issue(csr, Duration.ofHours(1));

    assertThat(chain).hasSize(2);
    X509Certificate leaf = chain.get(0);
    assertThat(chain.get(1)).isEqualTo(ROOTS.signer().certificate());
    assertThat(leaf.getPublicKey()).isEqualTo(g.keyPair().getPublic());
    assertThat(TestPki.uriSans(leaf)).containsExactly(API_GATEWAY);
    assertThat(leaf.getSubjectAlternativeNames()).hasSize(1);
    assertThat(leaf.getCriticalExtensionOIDs()).contains("2.5.29.17");
    assertThat(leaf.getSubjectX500Principal().getName()).isEmpty();
    assertThat(leaf.getBasicConstraints()).isEqualTo(-1);
    assertThat(leaf.getExtendedKeyUsage()).containsExactly("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2");
    assertThat(leaf.getKeyUsage()[0]).isTrue(); // digitalSignature
    assertThat(leaf.getNotAfter().toInstant()).isEqualTo(NOW.plus(Duration.ofHours(1)));
    assertThat(leaf.getNotBefore().toInstant()).isEqualTo(NOW.minus(Duration.ofMinutes(1)));
    leaf.verify(ROOTS.signer().certificate().getPublicKey());
  }

  @Test
  void validityDefaultsTo24hAndIsCappedAtTheMaximum() throws Exception {
    ValidatedCsr csr = ca.validate(CsrFactory.create(API_GATEWAY).csrPem());
    assertThat(ca.issue(csr, null).get(0).getNotAfter().toInstant()).isEqualTo(NOW.plus(Duration.ofHours(24)));
    assertThat(ca.issue(csr, Duration.ZERO).get(0).getNotAfter().toInstant())
        .isEqualTo(NOW.plus(Duration.ofHours(24)));
    assertThat(ca.issue(csr, Duration.ofDays(30)).get(0).getNotAfter().toInstant())
        .isEqualTo(NOW.plus(Duration.ofHours(24)));

    var shortCa = new CertificateAuthority("cluster.local", () -> ROOTS, Duration.ofHours(2), CLOCK);
    assertThat(shortCa.issue(csr, null).get(0).getNotAfter().toInstant())
        .isEqualTo(NOW.plus(Duration.ofHours(2)));
    assertThatThrownBy(() -> ca.issue(csr, Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("negative");
  }

  @Test
  void acceptsRsa2048() throws Exception {
    var kp = rsa(2048);
    ValidatedCsr csr = ca.validate(csrPem(kp, uri(API_GATEWAY)));
    X509Certificate leaf = ca.issue(csr, null).get(0);
    assertThat(leaf.getPublicKey()).isEqualTo(kp.getPublic());
    assertThat(leaf.getKeyUsage()[2]).isTrue(); // keyEncipherment
  }

  @Test
  void refusesWeakOrUnexpectedKeys() throws Exception {
    assertRejected(csrPem(rsa(1024), uri(API_GATEWAY)), "1024 bits");
    assertRejected(csrPem(ec("secp384r1"), uri(API_GATEWAY)), "not on P-256");
  }

  @Test
  void refusesAForgedSignature() throws Exception {
    assertRejected(TestPki.forgedCsrPem(API_GATEWAY), "signature does not verify");
  }

  @Test
  void refusesAnythingButOneSpiffeUriInTheTrustDomain() throws Exception {
    var kp = ec("secp256r1");
    assertRejected(csrPem(kp), "no subjectAltName");
    assertRejected(
        csrPem(kp, uri("spiffe://other.domain/ns/production/sa/api-gateway")),
        "trust domain 'other.domain'");
    assertRejected(csrPem(kp, uri(API_GATEWAY), uri(TestPki.ORDERS)), "exactly one URI SAN");
    assertRejected(
        csrPem(kp, uri(API_GATEWAY), new GeneralName(GeneralName.dNSName, "evil.example")),
        "DNS:evil.example");
    assertRejected(csrPem(kp, uri("https://example.com/x")), "not a SPIFFE id");
    assertRejected(csrPem(kp, uri("spiffe://cluster.local/workload/x")), "not an Istio SPIFFE id");
    assertRejected("not a csr", "CERTIFICATE REQUEST");
    assertRejected("", "empty");
    assertRejected(
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "CSR");
  }

  @Test
  void leavesOfTheOldAndTheNewRootVerifyAgainstTheBundleAfterRotation() throws Exception {
    CaStateDirectory state = CaStateDirectory.open(tmp.resolve("state"), "cluster.local");
    CertificateAuthority live = CertificateAuthority.of(state, Duration.ofHours(24));
    ValidatedCsr csr = live.validate(CsrFactory.create(API_GATEWAY).csrPem());
    List<X509Certificate> before = live.issue(csr, null);
    X509Certificate oldRoot = state.roots().signer().certificate();

    CaRoot newRoot = state.rotateRoot();
    List<X509Certificate> after = live.issue(csr, null);

    assertThat(after.get(1)).isEqualTo(newRoot.certificate());
    assertThat(live.trustBundle()).containsExactly(oldRoot, newRoot.certificate());
    assertThat(TestPki.verify(after, live.trustBundle())).isEqualTo(newRoot.certificate());
    assertThat(TestPki.verify(before, live.trustBundle())).isEqualTo(oldRoot);
    // and only the bundle makes the difference: the new leaf does not chain to the old root alone
    assertThatThrownBy(() -> TestPki.verify(after, List.of(oldRoot)))
        .isInstanceOf(java.security.cert.CertPathValidatorException.class);
  }

  private void assertRejected(String pem, String expected) {
    assertThatThrownBy(() -> ca.validate(pem))
        .isInstanceOf(CsrRejectedException.class)
        .hasMessageContaining(expected);
  }
}
