package dev.ambientj.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;

import java.security.cert.CertificateException;
import java.security.cert.CertificateExpiredException;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.Test;

class HandshakeFailuresTest {
  private static Throwable wrapped(Throwable cause) {
    SSLHandshakeException e = new SSLHandshakeException("General OpenSslEngine problem");
    e.initCause(cause);
    return e;
  }

  @Test
  void classifiesTheCauseChain() {
    assertThat(HandshakeFailures.reason(wrapped(new CertificateException(
        "client certificate CN=x does not chain to our trust bundle: Path does not chain"))))
        .isEqualTo("untrusted_certificate");
    assertThat(HandshakeFailures.reason(wrapped(new CertificateException("x",
        new CertificateExpiredException("NotAfter: …"))))).isEqualTo("expired_certificate");
    assertThat(HandshakeFailures.reason(wrapped(new CertificateException(
        "client identity spiffe://evil/ns/a/sa/b is in trust domain 'evil', expected 'cluster.local'"))))
        .isEqualTo("trust_domain_mismatch");
    assertThat(HandshakeFailures.reason(new io.netty.handler.ssl.NotSslRecordException("x")))
        .isEqualTo("not_tls");
    assertThat(HandshakeFailures.reason(null)).isEqualTo("closed");
  }
}
