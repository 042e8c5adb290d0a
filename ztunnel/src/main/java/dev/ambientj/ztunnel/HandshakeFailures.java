package dev.ambientj.ztunnel;

import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;
import java.util.Locale;

/** A low-cardinality reason label for a failed inbound TLS handshake, from its cause chain. */
final class HandshakeFailures {
  private HandshakeFailures() {}

  static String reason(Throwable cause) {
    if (cause == null) {
      return "closed";
    }
    StringBuilder all = new StringBuilder();
    for (Throwable c = cause; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (c instanceof CertificateExpiredException || c instanceof CertificateNotYetValidException) {
        return "expired_certificate";
      }
      if (c instanceof io.netty.handler.ssl.NotSslRecordException) {
        return "not_tls";
      }
      if (c instanceof io.netty.handler.ssl.SslHandshakeTimeoutException) {
        return "handshake_timeout"; // HboneServerConfig.handshakeTimeout
      }
      if (c.getMessage() != null) {
        all.append(c.getMessage()).append('\n');
      }
    }
    String m = all.toString().toLowerCase(Locale.ROOT);
    if (m.contains("trust domain")) {
      return "trust_domain_mismatch";
    }
    if (m.contains("expired") || m.contains("not yet valid")) {
      return "expired_certificate";
    }
    if (m.contains("cannot verify") || m.contains("does not chain") || m.contains("certification path")
        || m.contains("pkix")
        || m.contains("certificate_verify_failed") || m.contains("unknown_ca")
        || m.contains("certificate verify failed")) {
      return "untrusted_certificate";
    }
    if (m.contains("no certificate") || m.contains("sent no certificate")
        || m.contains("peer_did_not_return_a_certificate")) {
      return "no_client_certificate";
    }
    return "handshake_failed";
  }
}
