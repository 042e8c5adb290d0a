package dev.ambientj.hbone;

import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.hbone.identity.TrustBundle;
import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.cert.CertPath;
import java.security.cert.CertPathValidator;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.CertificateParsingException;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * Verifies a mesh peer: the chain against the trust bundle's roots (PKIX, no hostname check, any
 * number of roots), then exactly one URI SAN that parses as a {@link SpiffeId}, then a rule:
 *
 * <ul>
 *   <li>as a server: the client's trust domain equals ours (ztunnel's TrustDomainVerifier);
 *   <li>as a client: the server's identity is one of the expected identities (ztunnel's
 *       IdentityVerifier) — else {@link IdentityMismatchException}, which fails the handshake
 *       before any HTTP/2 byte is sent.
 * </ul>
 *
 * <p>Thread-safe and immutable; called by the TLS engine (BoringSSL's verify callback or the JDK).
 */
final class SpiffeTrustManager extends X509ExtendedTrustManager {

  /** A verified chain whose identity is not the one we wanted. */
  static final class IdentityMismatchException extends CertificateException {
    IdentityMismatchException(String message) {
      super(message);
    }
  }

  private final Set<TrustAnchor> anchors;
  private final X509Certificate[] roots;
  private final String ownTrustDomain; // server mode
  private final Set<SpiffeId> expectedPeers; // client mode

  private SpiffeTrustManager(TrustBundle bundle, String ownTrustDomain, Set<SpiffeId> expectedPeers) {
    Set<TrustAnchor> a = new HashSet<>();
    for (X509Certificate root : bundle.roots()) {
      a.add(new TrustAnchor(root, null));
    }
    this.anchors = Set.copyOf(a);
    this.roots = bundle.roots().toArray(new X509Certificate[0]);
    this.ownTrustDomain = ownTrustDomain;
    this.expectedPeers = expectedPeers;
  }

  static SpiffeTrustManager forServer(TrustBundle bundle, String ownTrustDomain) {
    return new SpiffeTrustManager(bundle, ownTrustDomain, null);
  }

  static SpiffeTrustManager forClient(TrustBundle bundle, Set<SpiffeId> expectedPeers) {
    return new SpiffeTrustManager(bundle, null, Set.copyOf(expectedPeers));
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
    SpiffeId id = verify(chain, "client");
    if (ownTrustDomain != null && !ownTrustDomain.equals(id.trustDomain())) {
      throw new CertificateException("client identity " + id + " is in trust domain '" + id.trustDomain()
          + "', not ours ('" + ownTrustDomain + "')");
    }
  }

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
    SpiffeId id = verify(chain, "server");
    if (expectedPeers != null && !expectedPeers.contains(id)) {
      throw new IdentityMismatchException("peer presented " + id + ", expected "
          + (expectedPeers.size() == 1 ? expectedPeers.iterator().next()
              : "one of " + expectedPeers.stream().map(SpiffeId::toString).sorted().collect(Collectors.joining(", ", "[", "]"))));
    }
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
    checkClientTrusted(chain, authType);
  }

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
    checkServerTrusted(chain, authType);
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
    try {
      checkClientTrusted(chain, authType);
    } catch (CertificateException e) {
      throw forEngine(engine, e);
    }
  }

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
    try {
      checkServerTrusted(chain, authType);
    } catch (CertificateException e) {
      throw forEngine(engine, e);
    }
  }

  /**
   * Gives BoringSSL the verification error that picks the right TLS alert. Netty's OpenSSL engine
   * turns a plain {@code CertificateException} into X509_V_ERR_UNSPECIFIED, which BoringSSL
   * answers with {@code internal_error}: a peer with a certificate from another CA was told that
   * we had failed. A chain that does not lead to our roots is {@code unknown_ca}; an expired or
   * not yet valid one says so; any other refusal (no SPIFFE id, another trust domain, an
   * unexpected identity) is a rejected certificate. The JDK engine picks its alert by itself.
   */
  private static CertificateException forEngine(SSLEngine engine, CertificateException e) {
    if (!(engine instanceof io.netty.handler.ssl.ReferenceCountedOpenSslEngine)
        || e instanceof io.netty.handler.ssl.OpenSslCertificateException) {
      return e;
    }
    int code = io.netty.internal.tcnative.CertificateVerifier.X509_V_ERR_CERT_REJECTED;
    if (e.getCause() instanceof CertPathValidatorException cpv) {
      if (cpv.getReason() == CertPathValidatorException.BasicReason.EXPIRED) {
        code = io.netty.internal.tcnative.CertificateVerifier.X509_V_ERR_CERT_HAS_EXPIRED;
      } else if (cpv.getReason() == CertPathValidatorException.BasicReason.NOT_YET_VALID) {
        code = io.netty.internal.tcnative.CertificateVerifier.X509_V_ERR_CERT_NOT_YET_VALID;
      } else {
        code = io.netty.internal.tcnative.CertificateVerifier.X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY;
      }
    }
    return new io.netty.handler.ssl.OpenSslCertificateException(e.getMessage(), e, code);
  }

  @Override
  public X509Certificate[] getAcceptedIssuers() {
    return roots.clone();
  }

  private SpiffeId verify(X509Certificate[] chain, String role) throws CertificateException {
    if (chain == null || chain.length == 0) {
      throw new CertificateException(role + " sent no certificate");
    }
    List<X509Certificate> path = new ArrayList<>(chain.length);
    for (X509Certificate c : chain) {
      if (!isAnchor(c)) {
        path.add(c);
      }
    }
    if (path.isEmpty()) {
      throw new CertificateException(role + " presented a root certificate as its own");
    }
    try {
      CertPath cp = CertificateFactory.getInstance("X.509").generateCertPath(path);
      PKIXParameters params = new PKIXParameters(anchors);
      params.setRevocationEnabled(false);
      CertPathValidator.getInstance("PKIX").validate(cp, params);
    } catch (CertPathValidatorException e) {
      throw new CertificateException(role + " certificate " + describe(chain[0])
          + " does not chain to our trust bundle: " + e.getMessage(), e);
    } catch (GeneralSecurityException e) {
      throw new CertificateException("cannot verify " + role + " certificate: " + e.getMessage(), e);
    }
    return spiffeIdOf(chain[0]);
  }

  private boolean isAnchor(X509Certificate c) {
    for (X509Certificate r : roots) {
      if (r.equals(c)) {
        return true;
      }
    }
    return false;
  }

  /** The leaf's single URI SAN as a SPIFFE id. */
  static SpiffeId spiffeIdOf(X509Certificate leaf) throws CertificateException {
    List<String> uris = new ArrayList<>();
    try {
      var sans = leaf.getSubjectAlternativeNames();
      if (sans != null) {
        for (List<?> san : sans) {
          if (san.size() >= 2 && Integer.valueOf(6).equals(san.get(0))) {
            uris.add(String.valueOf(san.get(1)));
          }
        }
      }
    } catch (CertificateParsingException e) {
      throw new CertificateException("cannot read the subject alternative names of " + describe(leaf), e);
    }
    if (uris.size() != 1) {
      throw new CertificateException("certificate " + describe(leaf) + " has " + uris.size()
          + " URI SANs " + uris + "; a mesh certificate carries exactly one SPIFFE id");
    }
    try {
      return SpiffeId.parse(uris.get(0));
    } catch (IllegalArgumentException e) {
      throw new CertificateException("certificate " + describe(leaf) + ": " + e.getMessage(), e);
    }
  }

  private static String describe(X509Certificate c) {
    return "(serial " + c.getSerialNumber().toString(16) + ", issuer " + c.getIssuerX500Principal().getName() + ")";
  }
}
