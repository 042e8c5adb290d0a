package dev.ambientj.hbone;

import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.hbone.identity.WorkloadCertificate;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * TLS contexts for HBONE, as ztunnel configures rustls: TLS 1.3 only (1.2 when enabled), AES-GCM
 * suites, ALPN {@code h2}, a client certificate required, peers verified by
 * {@link SpiffeTrustManager}, no SNI, no hostname verification, no client-side session resumption
 * (Netty resumes only when a peer host is given to {@code newHandler}, which we never do).
 */
final class MeshTls {

  private static final Logger log = LoggerFactory.getLogger(MeshTls.class);
  private static final Set<String> LOGGED = ConcurrentHashMap.newKeySet();

  private static final List<String> TLS13_CIPHERS = List.of("TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256");
  private static final List<String> TLS12_CIPHERS = List.of(
      "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
      "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
      "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
      "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");

  private static final ApplicationProtocolConfig ALPN_H2 = new ApplicationProtocolConfig(
      ApplicationProtocolConfig.Protocol.ALPN,
      ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
      ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
      ApplicationProtocolNames.HTTP_2);

  private MeshTls() {}

  /** BoringSSL when requested or AUTO and it loads, else the JDK; logged once per outcome. */
  static SslProvider provider(TlsProvider preference) {
    SslProvider chosen;
    String why;
    if (preference == TlsProvider.JDK) {
      chosen = SslProvider.JDK;
      why = "requested";
    } else if (OpenSsl.isAvailable()) {
      chosen = SslProvider.OPENSSL;
      why = OpenSsl.versionString();
    } else {
      chosen = SslProvider.JDK;
      why = (preference == TlsProvider.BORINGSSL ? "BoringSSL requested but " : "")
          + "netty-tcnative unavailable: " + OpenSsl.unavailabilityCause();
    }
    if (LOGGED.add(chosen + why)) {
      log.info("TLS provider: {} ({})", chosen == SslProvider.OPENSSL ? "BoringSSL via netty-tcnative" : "JDK", why);
    }
    return chosen;
  }

  static SslContext serverContext(WorkloadCertificate cert, boolean tls12, TlsProvider preference) throws SSLException {
    return SslContextBuilder.forServer(cert.privateKey(), cert.chain())
        .sslProvider(provider(preference))
        .trustManager(SpiffeTrustManager.forServer(cert.trustBundle(), cert.identity().trustDomain()))
        .clientAuth(ClientAuth.REQUIRE)
        .protocols(protocols(tls12))
        .ciphers(ciphers(preference), SupportedCipherSuiteFilter.INSTANCE)
        .applicationProtocolConfig(ALPN_H2)
        .build();
  }

  static SslContext clientContext(WorkloadCertificate cert, Set<SpiffeId> expectedPeers, boolean tls12,
      TlsProvider preference) throws SSLException {
    return SslContextBuilder.forClient()
        .sslProvider(provider(preference))
        .keyManager(cert.privateKey(), cert.chain())
        .trustManager(SpiffeTrustManager.forClient(cert.trustBundle(), expectedPeers))
        .endpointIdentificationAlgorithm(null) // identity is checked by SpiffeTrustManager, not hostnames
        .protocols(protocols(tls12))
        .ciphers(ciphers(preference), SupportedCipherSuiteFilter.INSTANCE)
        .applicationProtocolConfig(ALPN_H2)
        .build();
  }

  /**
   * BoringSSL's TLS 1.3 suites are fixed (it also offers ChaCha20, and logs that once per context);
   * Netty still needs a 1.3 suite in the list to leave TLS 1.3 enabled.
   */
  private static List<String> ciphers(TlsProvider preference) {
    List<String> all = new java.util.ArrayList<>(TLS13_CIPHERS);
    all.addAll(TLS12_CIPHERS);
    return all;
  }

  private static String[] protocols(boolean tls12) {
    return tls12 ? new String[] {"TLSv1.3", "TLSv1.2"} : new String[] {"TLSv1.3"};
  }

  /** The SPIFFE id of the verified peer of a completed handshake. */
  static SpiffeId peerIdentity(SSLSession session) throws SSLPeerUnverifiedException {
    Certificate[] chain = session.getPeerCertificates();
    if (chain.length == 0 || !(chain[0] instanceof X509Certificate leaf)) {
      throw new SSLPeerUnverifiedException("peer presented no X.509 certificate");
    }
    try {
      return SpiffeTrustManager.spiffeIdOf(leaf);
    } catch (CertificateException e) {
      SSLPeerUnverifiedException ex = new SSLPeerUnverifiedException(e.getMessage());
      ex.initCause(e);
      throw ex;
    }
  }
}
