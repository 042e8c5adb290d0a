package dev.ambientj.config.ca;

import io.grpc.netty.GrpcSslContexts;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.net.InetAddress;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.SSLException;

/**
 * TLS between the proxies and the config server's mTLS port (15012), both ends anchored in the
 * mesh CA's root.
 *
 * <ul>
 *   <li><b>Server</b>: a certificate issued by the CA itself at start ({@link #serverIdentity}
 *       as URI SAN, {@value #SERVER_NAME} and its {@code .cluster.local} form, {@code localhost}
 *       and the listen address as DNS/IP SANs); client certificates are <em>requested</em> and,
 *       when sent, verified against the trust bundle. Whether a call needs one is the service's
 *       decision ({@code ClientCertificates} in the server package: xDS does, the CA does not — a
 *       proxy with no certificate yet bootstraps from it with its token).
 *   <li><b>Client</b>: trusts the bundle, verifies the server's name ({@link #serverName}: the
 *       DNS name dialled, or {@value #SERVER_NAME} for an IP address), and presents the proxy's
 *       workload certificate when it has one — or, without one, authenticates each call with its
 *       bearer token (a projected service-account token in a cluster).
 * </ul>
 */
public final class ControlPlaneTls {
  /** The name clients verify (istiod's Service, ISTIO-FACTS §6). */
  public static final String SERVER_NAME = "istiod.istio-system.svc";

  /** How long the server's own certificate is valid (it is re-issued at every start). */
  public static final Duration SERVER_VALIDITY = Duration.ofDays(365);

  private ControlPlaneTls() {}

  /** {@code spiffe://<td>/ns/istio-system/sa/istiod}: the config server's identity. */
  public static String serverIdentity(String trustDomain) {
    return "spiffe://" + trustDomain + "/ns/istio-system/sa/istiod";
  }

  /**
   * The server side: a fresh key, a certificate from {@code ca}, client certificates optional
   * and verified against the CA's trust bundle.
   *
   * @param listen the address the TLS port binds (an IP SAN unless it is the wildcard)
   */
  public static SslContext server(CertificateAuthority ca, InetAddress listen) throws SSLException {
    return server(ca, listen, List.of());
  }

  /**
   * As {@link #server(CertificateAuthority, InetAddress)}, with {@code dnsNames} (e.g. the config
   * server's own Service, {@code ambientj-config.ambientj-system.svc}) added to the certificate's
   * DNS SANs: clients that dial that name verify it ({@link #serverName}).
   */
  public static SslContext server(CertificateAuthority ca, InetAddress listen,
      List<String> dnsNames) throws SSLException {
    KeyPair key = ecKey();
    List<InetAddress> ips = new ArrayList<>();
    if (listen != null && !listen.isAnyLocalAddress()) {
      ips.add(listen);
    }
    List<String> names = new ArrayList<>(List.of(SERVER_NAME, SERVER_NAME + ".cluster.local", "localhost"));
    for (String n : dnsNames) {
      if (!names.contains(n)) {
        names.add(n);
      }
    }
    List<X509Certificate> chain = ca.issueServing(key.getPublic(),
        serverIdentity(ca.trustDomain()), names, ips, SERVER_VALIDITY);
    return GrpcSslContexts.configure(SslContextBuilder.forServer(key.getPrivate(), chain))
        .trustManager(ca.trustBundle())
        .clientAuth(ClientAuth.OPTIONAL)
        .build();
  }

  /**
   * The client side.
   *
   * @param trustBundle the mesh CA's roots
   * @param key the proxy's private key, or null to present no certificate
   * @param chain the proxy's certificate chain, leaf first (ignored when {@code key} is null)
   */
  public static SslContext client(List<X509Certificate> trustBundle, PrivateKey key,
      List<X509Certificate> chain) throws SSLException {
    var b = GrpcSslContexts.forClient().trustManager(trustBundle);
    if (key != null) {
      b.keyManager(key, chain);
    }
    return b.build();
  }

  /**
   * The name a client verifies in the server's certificate when it dials {@code host}: the host
   * itself when it is a DNS name (as Istio's ztunnel verifies {@code istiod.istio-system.svc}),
   * {@value #SERVER_NAME} when it is an IP address (the certificate need not list every address).
   */
  public static String serverName(String host) {
    String h = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
    if (h.isEmpty() || h.contains(":") || h.chars().allMatch(c -> c == '.' || Character.isDigit(c))) {
      return SERVER_NAME;
    }
    return h;
  }

  /** Parses a PEM trust bundle (e.g. the state directory's {@code roots.pem}). */
  public static List<X509Certificate> parseCertificates(String pem) {
    return PemText.certificates(pem);
  }

  /** Parses a PEM private key. */
  public static PrivateKey parsePrivateKey(String pem) {
    return CaPem.parsePrivateKey(pem);
  }

  private static KeyPair ecKey() {
    try {
      KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
      g.initialize(new ECGenParameterSpec("secp256r1"));
      return g.generateKeyPair();
    } catch (java.security.GeneralSecurityException e) {
      throw new IllegalStateException("no EC P-256 key generator", e);
    }
  }
}
