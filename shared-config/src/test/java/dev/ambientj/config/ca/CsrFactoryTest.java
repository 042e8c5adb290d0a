package dev.ambientj.config.ca;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The request a proxy sends, read back by an independent parser: OpenSSL. */
class CsrFactoryTest {
  @TempDir Path tmp;

  @Test
  void openSslVerifiesTheRequestAndReadsTheSpiffeIdAsItsOnlyCriticalSan() throws Exception {
    Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/openssl")), "openssl is not installed");
    String id = "spiffe://cluster.local/ns/shop/sa/payment-with-a-long-service-account-name";
    CsrFactory.Generated g = CsrFactory.create(id);
    Path csr = Files.writeString(tmp.resolve("req.pem"), g.csrPem());

    Process p = new ProcessBuilder("openssl", "req", "-in", csr.toString(), "-noout", "-verify", "-text")
        .redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(10, TimeUnit.SECONDS)).isTrue();

    assertThat(p.exitValue()).as(out).isZero();
    assertThat(out).contains("verify OK").contains("Version: 1 (0x0)")
        .contains("ASN1 OID: prime256v1").contains("Signature Algorithm: ecdsa-with-SHA256")
        .contains("X509v3 Subject Alternative Name: critical").contains("URI:" + id);
    assertThat(out).containsPattern("Subject: *\\n");
    assertThat(g.privateKeyPem()).startsWith("-----BEGIN PRIVATE KEY-----\n");
    assertThat(PemText.certificates(g.csrPem())).as("no certificate in a request").isEmpty();
  }

  @Test
  void aNonSpiffeIdIsRefused() {
    assertThatThrownBy(() -> CsrFactory.create("https://example.com/"))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
