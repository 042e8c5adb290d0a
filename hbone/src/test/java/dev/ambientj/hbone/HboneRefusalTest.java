package dev.ambientj.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambientj.hbone.identity.IdentityProvider;
import dev.ambientj.hbone.identity.LocalCertificateAuthority;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.hbone.identity.TrustBundle;
import dev.ambientj.hbone.identity.WorkloadCertificate;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Everything that must be refused, and how. */
@Timeout(60)
class HboneRefusalTest {

  static TestMesh mesh;

  @BeforeAll
  static void start() throws Exception {
    mesh = TestMesh.standard();
  }

  @AfterAll
  static void stop() throws Exception {
    mesh.close();
  }

  @BeforeEach
  void clear() {
    mesh.requests.clear();
  }

  private static HboneException failure(CompletableFuture<?> f) {
    try {
      f.get(15, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      assertThat(e.getCause()).isInstanceOf(HboneException.class);
      return (HboneException) e.getCause();
    } catch (Exception e) {
      throw new AssertionError(e);
    }
    throw new AssertionError("expected a failure, got success");
  }

  private static SslContext bareClientContext(WorkloadCertificate cert, TrustBundle trust) throws Exception {
    SslContextBuilder b = SslContextBuilder.forClient()
        .trustManager(trust.roots())
        .endpointIdentificationAlgorithm(null)
        .protocols("TLSv1.3")
        .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
            ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
            ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, "h2"));
    if (cert != null) {
      b.keyManager(cert.privateKey(), cert.chain());
    }
    return b.build();
  }

  private HboneClient clientWith(IdentityProvider certs) {
    return new HboneClient(HboneClientConfig.defaults(), mesh.transport, mesh.group, certs);
  }

  @Test
  void noClientCertificateFailsTheHandshake() throws Exception {
    CompletableFuture<Http2Headers> r = RawH2Client.request(mesh, bareClientContext(null, mesh.ca.trustBundle()),
        mesh.serverAddress, new DefaultHttp2Headers().method("CONNECT").authority(mesh.echoTarget().authority()));
    assertThatThrownBy(() -> r.get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class);
    assertThat(mesh.requests).isEmpty();
  }

  @Test
  void certificateFromAnotherCaFails() throws Exception {
    LocalCertificateAuthority other = LocalCertificateAuthority.create(TestMesh.TD);
    WorkloadCertificate foreign = other.issue(TestMesh.CLIENT_ID, Duration.ofHours(1));
    // trusts our server, but its own certificate chains to a root the server does not know
    WorkloadCertificate cert = new WorkloadCertificate(TestMesh.CLIENT_ID, foreign.chain(), foreign.privateKey(),
        mesh.ca.trustBundle());
    try (HboneClient c = clientWith(id -> CompletableFuture.completedFuture(cert))) {
      HboneException e = failure(c.connect(mesh.echoTarget()));
      assertThat(e.kind()).isEqualTo(HboneException.Kind.TLS_FAILURE);
    }
    assertThat(mesh.requests).isEmpty();
  }

  /**
   * Issue 15 item 9: a client certificate from another CA was answered with the alert
   * {@code internal_error}, as if the server had failed. A JDK client reads the alert's name.
   */
  @Test
  void certificateFromAnotherCaIsAnsweredUnknownCa() throws Exception {
    WorkloadCertificate foreign = LocalCertificateAuthority.create(TestMesh.TD).issue(TestMesh.CLIENT_ID, Duration.ofHours(1));
    assertThat(alertFor(foreign)).contains("unknown_ca");
  }

  @Test
  void certificateOfAnotherTrustDomainIsAnsweredAsARejectedCertificate() throws Exception {
    WorkloadCertificate other = mesh.ca.issue(new SpiffeId("other.example", "default", "client"), Duration.ofHours(1));
    assertThat(alertFor(other)).doesNotContain("internal_error").containsAnyOf("bad_certificate", "certificate_unknown");
  }

  /** Handshakes with a JDK client presenting {@code cert}; the message of the alert the server sent. */
  private static String alertFor(WorkloadCertificate cert) throws Exception {
    java.security.KeyStore ks = java.security.KeyStore.getInstance("PKCS12");
    ks.load(null, null);
    char[] pw = "x".toCharArray();
    ks.setKeyEntry("client", cert.privateKey(), pw, cert.chain().toArray(new java.security.cert.X509Certificate[0]));
    javax.net.ssl.KeyManagerFactory kmf = javax.net.ssl.KeyManagerFactory.getInstance("PKIX");
    kmf.init(ks, pw);
    javax.net.ssl.TrustManager trustAll = new javax.net.ssl.X509TrustManager() {
      @Override
      public void checkClientTrusted(java.security.cert.X509Certificate[] c, String a) {}

      @Override
      public void checkServerTrusted(java.security.cert.X509Certificate[] c, String a) {}

      @Override
      public java.security.cert.X509Certificate[] getAcceptedIssuers() {
        return new java.security.cert.X509Certificate[0];
      }
    };
    javax.net.ssl.SSLContext tls = javax.net.ssl.SSLContext.getInstance("TLSv1.3");
    tls.init(kmf.getKeyManagers(), new javax.net.ssl.TrustManager[] {trustAll}, null);
    try (javax.net.ssl.SSLSocket s = (javax.net.ssl.SSLSocket) tls.getSocketFactory()
        .createSocket(mesh.serverAddress.getAddress(), mesh.serverAddress.getPort())) {
      s.setSoTimeout(10_000);
      javax.net.ssl.SSLParameters p = s.getSSLParameters();
      p.setApplicationProtocols(new String[] {"h2"});
      s.setSSLParameters(p);
      try {
        s.startHandshake(); // TLS 1.3: the server judges our certificate after our side is done
        s.getInputStream().read();
      } catch (javax.net.ssl.SSLException e) {
        return e.getMessage();
      }
    }
    throw new AssertionError("the server accepted " + cert.identity() + " from another CA");
  }

  @Test
  void serverFromAnotherCaIsRefusedByTheClient() throws Exception {
    LocalCertificateAuthority other = LocalCertificateAuthority.create(TestMesh.TD);
    try (HboneClient c = clientWith(other.asIdentityProvider(Duration.ofHours(1)))) {
      HboneException e = failure(c.connect(mesh.echoTarget()));
      assertThat(e.kind()).isEqualTo(HboneException.Kind.TLS_FAILURE);
      assertThat(e.getMessage()).contains("TLS handshake with 127.0.0.1:");
    }
    assertThat(mesh.requests).isEmpty();
  }

  @Test
  void anotherTrustDomainFails() throws Exception {
    SpiffeId foreignId = new SpiffeId("other.example", "default", "client");
    WorkloadCertificate cert = mesh.ca.issue(foreignId, Duration.ofHours(1)); // same root, other trust domain
    try (HboneClient c = clientWith(id -> CompletableFuture.completedFuture(cert))) {
      HboneException e = failure(c.connect(new ConnectTarget(foreignId, Set.of(TestMesh.SERVER_ID), mesh.serverAddress,
          mesh.echoTarget().authority())));
      assertThat(e.kind()).isEqualTo(HboneException.Kind.TLS_FAILURE);
    }
    assertThat(mesh.requests).isEmpty();
  }

  @Test
  void unexpectedDestinationIdentityIsRefusedByTheClient() {
    SpiffeId someoneElse = new SpiffeId(TestMesh.TD, "prod", "reviews");
    int before = mesh.server.activeConnections();
    HboneException e = failure(mesh.client.connect(new ConnectTarget(TestMesh.CLIENT_ID, Set.of(someoneElse),
        mesh.serverAddress, mesh.echoTarget().authority())));
    assertThat(e.kind()).isEqualTo(HboneException.Kind.IDENTITY_MISMATCH);
    assertThat(e.getMessage()).contains("spiffe://cluster.local/ns/default/sa/server").contains("spiffe://cluster.local/ns/prod/sa/reviews");
    assertThat(mesh.requests).isEmpty();
    assertThat(mesh.server.activeConnections()).isLessThanOrEqualTo(before);
  }

  @Test
  void plaintextHttp2ToTheTlsPortFails() throws Exception {
    try (Socket s = new Socket()) {
      s.connect(mesh.serverAddress, 5000);
      s.setSoTimeout(5000);
      OutputStream out = s.getOutputStream();
      out.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      out.write(new byte[] {0, 0, 0, 4, 0, 0, 0, 0, 0}); // empty SETTINGS
      out.flush();
      InputStream in = s.getInputStream();
      int first = in.read();
      // either closed at once or a TLS alert record (0x15) — never an HTTP/2 frame
      assertThat(first).isIn(-1, 0x15);
      byte[] rest = in.readAllBytes();
      assertThat(rest.length).isLessThan(64);
    }
    assertThat(mesh.requests).isEmpty();
  }

  @Test
  void getInsteadOfConnectIs400() throws Exception {
    WorkloadCertificate cert = mesh.certs.fetchCertificate(TestMesh.CLIENT_ID).join();
    Http2Headers response = RawH2Client.request(mesh, bareClientContext(cert, mesh.ca.trustBundle()), mesh.serverAddress,
        new DefaultHttp2Headers().method("GET").scheme("https").path("/").authority(mesh.echoTarget().authority()))
        .get(10, TimeUnit.SECONDS);
    assertThat(response.status().toString()).isEqualTo("400");
    assertThat(mesh.requests).isEmpty();
  }

  @Test
  void connectWithoutPortIs400() {
    HboneException e = failure(mesh.client.connect(mesh.target("127.0.0.1")));
    assertThat(e.kind()).isEqualTo(HboneException.Kind.HTTP_STATUS);
    assertThat(e.httpStatus()).isEqualTo(400);
    assertThat(mesh.requests).isEmpty();
  }

  @Test
  void handlerRefusalsReachTheClientWithTheirStatus() throws Exception {
    try (TestMesh m = new TestMesh().startServer(HboneServerConfig.defaults(), (req, resp) -> {
      switch (req.target().port()) {
        case 401 -> resp.refuse(401, "denied by policy");
        case 503 -> resp.refuse(503, "unknown destination");
        default -> throw new IllegalStateException("handler bug");
      }
    }).startClient(HboneClientConfig.defaults())) {
      assertThat(failure(m.client.connect(m.target("10.0.0.1:401"))).httpStatus()).isEqualTo(401);
      HboneException e = failure(m.client.connect(m.target("10.0.0.1:503")));
      assertThat(e.httpStatus()).isEqualTo(503);
      assertThat(e.getMessage()).contains("answered 503");
      assertThat(failure(m.client.connect(m.target("10.0.0.1:9"))).httpStatus()).isEqualTo(503); // handler threw
      // the connection survives refusals
      assertThat(m.client.connectionCount()).isEqualTo(1);
    }
  }

  @Test
  void upstreamUnreachableIs503() throws Exception {
    int closedPort;
    try (java.net.ServerSocket ss = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
      closedPort = ss.getLocalPort();
    }
    HboneException e = failure(mesh.client.connect(mesh.target("127.0.0.1:" + closedPort)));
    assertThat(e.httpStatus()).isEqualTo(503);
  }

  @Test
  void connectionRefusedHasAnOperatorMessage() throws Exception {
    int closedPort;
    try (java.net.ServerSocket ss = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
      closedPort = ss.getLocalPort();
    }
    HboneException e = failure(mesh.client.connect(new ConnectTarget(TestMesh.CLIENT_ID, Set.of(TestMesh.SERVER_ID),
        new InetSocketAddress("127.0.0.1", closedPort), "127.0.0.1:80", Map.of())));
    assertThat(e.kind()).isEqualTo(HboneException.Kind.CONNECT_REFUSED);
    assertThat(e.getMessage()).contains("connection to 127.0.0.1:" + closedPort + " refused");
  }
}
