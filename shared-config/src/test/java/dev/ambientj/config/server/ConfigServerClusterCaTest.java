package dev.ambientj.config.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambientj.config.ProxyConfigSources;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.ca.CaClient;
import dev.ambientj.config.ca.CaClientException;
import dev.ambientj.config.ca.CertificateAuthority;
import dev.ambientj.config.ca.ControlPlaneTls;
import dev.ambientj.config.ca.CsrFactory;
import dev.ambientj.config.ca.KubernetesCaRoot;
import dev.ambientj.config.model.MeshSnapshot;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.authentication.TokenReview;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.grpc.Status;
import io.netty.handler.ssl.SslContext;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code mesh config-server --kubernetes --listen-tls}: proxies authenticate with projected
 * service-account tokens (reviewed by Fabric8's mock API server), the CA root lives in a Secret and
 * is published in a ConfigMap, and everything crosses real TLS on loopback (127.78.0.x).
 */
@EnableKubernetesMockClient(crud = true)
class ConfigServerClusterCaTest {
  private static final String NS = "ambientj-system";
  private static final String WEB = "spiffe://cluster.local/ns/shop/sa/web";
  private static final String DB = "spiffe://cluster.local/ns/shop/sa/db";
  private static final String WAYPOINT = "spiffe://cluster.local/ns/shop/sa/payment-waypoint";
  private static final String ZTUNNEL_A = "token-of-ztunnel-on-node-a";
  private static final String ZTUNNEL_B = "token-of-ztunnel-on-node-b";
  private static final String WAYPOINT_TOKEN = "token-of-the-payment-waypoint";

  KubernetesClient client;
  KubernetesMockServer server;
  @TempDir Path tmp;
  final AtomicInteger reviews = new AtomicInteger();
  final List<ConfigServerCommand.Running> started = new ArrayList<>();
  ConfigServerCommand.Running running;

  @BeforeEach
  void cluster() throws Exception {
    server.expect().post().withPath("/apis/authentication.k8s.io/v1/tokenreviews")
        .andReply(201, req -> review(req.getUtf8Body())).always();
    apply("""
        apiVersion: v1
        kind: Node
        metadata: {name: node-a}
        status: {addresses: [{type: InternalIP, address: 127.78.1.1}]}
        ---
        apiVersion: v1
        kind: Node
        metadata: {name: node-b}
        status: {addresses: [{type: InternalIP, address: 127.78.2.1}]}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: web-1, namespace: shop}
        spec: {nodeName: node-a, serviceAccountName: web, containers: [{name: app, image: app}]}
        status: {phase: Running, podIP: 127.78.1.10}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: db-1, namespace: shop}
        spec: {nodeName: node-b, serviceAccountName: db, containers: [{name: app, image: app}]}
        status: {phase: Running, podIP: 127.78.2.10}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: ztunnel-b, namespace: ambientj-system}
        spec: {nodeName: node-b, serviceAccountName: ztunnel, containers: [{name: z, image: z}]}
        status: {phase: Running, podIP: 127.78.2.1}
        """);
    running = start(tmp.resolve("state-1"));
  }

  @AfterEach
  void stop() {
    started.forEach(ConfigServerCommand.Running::close);
  }

  /** What the API server answers a TokenReview: the tokens this test hands out, nothing else. */
  private String review(String body) {
    reviews.incrementAndGet();
    TokenReview req = Serialization.unmarshal(body, TokenReview.class);
    assertThat(req.getSpec().getAudiences()).containsExactly("istio-ca");
    String token = req.getSpec().getToken();
    var b = new TokenReviewBuilder(req).withNewStatus();
    switch (token) {
      // bound token with the node-name extra (Kubernetes 1.30+)
      case ZTUNNEL_A -> b.withAuthenticated(true).withAudiences("istio-ca").withNewUser()
          .withUsername("system:serviceaccount:" + NS + ":ztunnel")
          .withExtra(Map.of("authentication.kubernetes.io/pod-name", List.of("ztunnel-a"),
              "authentication.kubernetes.io/node-name", List.of("node-a")))
          .endUser();
      // pod name only: the node comes from the pod's spec.nodeName
      case ZTUNNEL_B -> b.withAuthenticated(true).withAudiences("istio-ca").withNewUser()
          .withUsername("system:serviceaccount:" + NS + ":ztunnel")
          .withExtra(Map.of("authentication.kubernetes.io/pod-name", List.of("ztunnel-b")))
          .endUser();
      case WAYPOINT_TOKEN -> b.withAuthenticated(true).withAudiences("istio-ca").withNewUser()
          .withUsername("system:serviceaccount:shop:payment-waypoint")
          .withExtra(Map.of("authentication.kubernetes.io/pod-name", List.of("payment-waypoint-0"),
              "authentication.kubernetes.io/node-name", List.of("node-a")))
          .endUser();
      default -> b.withAuthenticated(false).withError("invalid bearer token");
    }
    return Serialization.asJson(b.endStatus().build());
  }

  private void apply(String yaml) {
    for (HasMetadata o :
        client.load(new ByteArrayInputStream(yaml.getBytes(StandardCharsets.UTF_8))).items()) {
      client.resource(o).create();
    }
  }

  private ConfigServerCommand.Running start(Path state) throws Exception {
    var o = ConfigServerCommand.Options.parse(new String[] {
        "--kubernetes", "--namespace", NS, "--state-dir", state.toString(),
        "--listen", "127.78.0.1:0", "--listen-tls", "127.78.0.1:0",
        "--tls-server-name", "ambientj-config." + NS + ".svc"});
    ConfigServerCommand.Running r =
        ConfigServerCommand.Running.start(o, new PrintStream(new ByteArrayOutputStream(), true), client);
    started.add(r);
    return r;
  }

  private String tlsTarget(ConfigServerCommand.Running r) {
    return "127.78.0.1:" + r.tlsServer().address().getPort();
  }

  /** The mesh root as a proxy pod sees it: the published ConfigMap, written to a file. */
  private Path rootCertFile() throws Exception {
    ConfigMap cm = client.configMaps().inNamespace(NS).withName(KubernetesCaRoot.CONFIG_MAP).get();
    assertThat(cm).as("ConfigMap %s/%s", NS, KubernetesCaRoot.CONFIG_MAP).isNotNull();
    Path f = tmp.resolve("root-cert.pem");
    Files.writeString(f, cm.getData().get(KubernetesCaRoot.ROOT_CERT_KEY));
    return f;
  }

  private Path tokenFile(String name, String token) throws Exception {
    Path f = tmp.resolve(name);
    Files.writeString(f, token + "\n");
    return f;
  }

  private CaClient caClient(String token) throws Exception {
    return CaClient.builder(tlsTarget(running))
        .tls(ControlPlaneTls.client(ProxyConfigSources.readRoots(rootCertFile()), null, null))
        .tokenFile(tokenFile("token-" + Math.abs(token.hashCode()), token)).build();
  }

  private record Issued(CsrFactory.Generated key, List<String> chain) {}

  private Issued fetch(CaClient ca, String identity) throws Exception {
    CsrFactory.Generated csr = CsrFactory.create(identity);
    return new Issued(csr,
        ca.fetchCertificate(csr.csrPem(), Duration.ofHours(1), identity).get(20, TimeUnit.SECONDS));
  }

  private static Status refusal(CaClient ca, String identity) {
    CsrFactory.Generated csr = CsrFactory.create(identity);
    try {
      ca.fetchCertificate(csr.csrPem(), Duration.ofHours(1), identity).get(20, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      assertThat(e.getCause()).isInstanceOf(CaClientException.class);
      return ((CaClientException) e.getCause()).status();
    } catch (Exception e) {
      throw new AssertionError(e);
    }
    throw new AssertionError("the CA signed " + identity);
  }

  @Test
  void aZtunnelTokenGetsCertificatesForWorkloadsOnItsNodeOnly() throws Exception {
    try (CaClient a = caClient(ZTUNNEL_A); CaClient b = caClient(ZTUNNEL_B)) {
      assertThat(leaf(fetch(a, WEB).chain()).getSubjectAlternativeNames().toString()).contains(WEB);
      Status denied = refusal(a, DB);
      assertThat(denied.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
      assertThat(denied.getDescription())
          .contains("system:serviceaccount:" + NS + ":ztunnel").contains(DB).contains("node-a");
      // node-b's ztunnel: its token names only its pod; the node comes from the pod
      assertThat(leaf(fetch(b, DB).chain()).getSubjectAlternativeNames().toString()).contains(DB);
      assertThat(refusal(b, WEB).getDescription()).contains("node-b").contains(WEB);
    }
  }

  @Test
  void aWaypointTokenGetsOnlyItsOwnIdentity() throws Exception {
    try (CaClient wp = caClient(WAYPOINT_TOKEN)) {
      assertThat(leaf(fetch(wp, WAYPOINT).chain()).getSubjectAlternativeNames().toString())
          .contains(WAYPOINT);
      // the waypoint runs on node-a, like web; still not web's certificate
      Status denied = refusal(wp, WEB);
      assertThat(denied.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
      assertThat(denied.getDescription()).contains("only for its own identity " + WAYPOINT);
    }
  }

  @Test
  void anInvalidTokenIsUnauthenticatedAndReviewsAreCached() throws Exception {
    try (CaClient bogus = caClient("not-a-token")) {
      Status s = refusal(bogus, WEB);
      assertThat(s.getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
      assertThat(s.getDescription()).contains("invalid bearer token").contains("istio-ca");
    }
    int before = reviews.get();
    try (CaClient a = caClient(ZTUNNEL_A)) {
      fetch(a, WEB);
      fetch(a, WEB);
    }
    assertThat(reviews.get() - before).as("one TokenReview for a burst of CSRs").isEqualTo(1);
  }

  @Test
  void theRootSurvivesARestartThroughItsSecret() throws Exception {
    X509Certificate root = running.state().roots().signer().certificate();
    started.remove(running);
    running.close();
    // a new pod: its state directory (an emptyDir) starts empty
    ConfigServerCommand.Running again = start(tmp.resolve("state-2"));
    assertThat(again.state().roots().signer().certificate()).isEqualTo(root);
    assertThat(again.state().createdRoot()).isFalse();
    assertThat(ControlPlaneTls.parseCertificates(Files.readString(rootCertFile()))).containsExactly(root);
  }

  @Test
  void aServerThatLosesTheRaceForTheSecretTakesTheWinnersRoot() throws Exception {
    X509Certificate winner = running.state().roots().signer().certificate();
    // The second server reads no Secret (as if the first had not created it yet), makes its own
    // root, and its create conflicts.
    server.expect().get().withPath("/api/v1/namespaces/" + NS + "/secrets/" + KubernetesCaRoot.SECRET)
        .andReturn(404, new io.fabric8.kubernetes.api.model.StatusBuilder().withCode(404)
            .withReason("NotFound").build()).once();
    ConfigServerCommand.Running second = start(tmp.resolve("state-racer"));
    assertThat(second.state().roots().signer().certificate()).isEqualTo(winner);
    assertThat(second.state().roots().trustBundle()).containsExactly(winner);
  }

  @Test
  void certificatesOfTwoZtunnelsVerifyEachOtherInATlsHandshake() throws Exception {
    Issued web;
    Issued db;
    try (CaClient a = caClient(ZTUNNEL_A); CaClient b = caClient(ZTUNNEL_B)) {
      web = fetch(a, WEB);
      db = fetch(b, DB);
    }
    List<X509Certificate> roots = ProxyConfigSources.readRoots(rootCertFile());
    SSLContext serverSide = tls(db, roots);
    SSLContext clientSide = tls(web, roots);
    try (SSLServerSocket listener = (SSLServerSocket) serverSide.getServerSocketFactory()
        .createServerSocket(0, 1, InetAddress.getByName("127.78.2.10"))) {
      listener.setNeedClientAuth(true);
      CompletableFuture<Certificate[]> serverSaw = CompletableFuture.supplyAsync(() -> {
        try (SSLSocket s = (SSLSocket) listener.accept()) {
          s.startHandshake();
          OutputStream out = s.getOutputStream();
          out.write(1);
          out.flush();
          return s.getSession().getPeerCertificates();
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      });
      try (SSLSocket c = (SSLSocket) clientSide.getSocketFactory().createSocket()) {
        c.bind(new InetSocketAddress("127.78.1.10", 0));
        c.connect(listener.getLocalSocketAddress(), 5000);
        c.startHandshake();
        InputStream in = c.getInputStream();
        assertThat(in.read()).isEqualTo(1);
        assertThat(((X509Certificate) c.getSession().getPeerCertificates()[0])
            .getSubjectAlternativeNames().toString()).contains(DB);
      }
      assertThat(((X509Certificate) serverSaw.get(10, TimeUnit.SECONDS)[0])
          .getSubjectAlternativeNames().toString()).contains(WEB);
    }
  }

  @Test
  void aZtunnelSubscribesToXdsOverTlsWithTheRootAndItsToken() throws Exception {
    SnapshotPublisher snapshots = new SnapshotPublisher();
    var options = new ProxyConfigSources.Options(List.of(), running.tlsServer().address(),
        "ztunnel", "ztunnel-a", NS, "node-a", null, null, tokenFile("xds-token", ZTUNNEL_A),
        rootCertFile());
    try (AutoCloseable xds = ProxyConfigSources.start(options, snapshots, Duration.ofSeconds(20))) {
      MeshSnapshot s = snapshots.snapshot();
      assertThat(s.findNode("node-a")).isPresent();
      assertThat(s.workloads()).hasSameSizeAs(running.publisher().snapshot().workloads());
    }
  }

  @Test
  void xdsOnTheTlsPortRefusesPlaintextAWrongRootAndNoCredential() throws Exception {
    List<X509Certificate> roots = ProxyConfigSources.readRoots(rootCertFile());
    assertThat(firstAnswer(null, ZTUNNEL_A).getCode()).as("plaintext").isEqualTo(Status.Code.UNAVAILABLE);
    List<X509Certificate> otherRoots = CertificateAuthority.inMemory("cluster.local").trustBundle();
    assertThat(firstAnswer(ControlPlaneTls.client(otherRoots, null, null), ZTUNNEL_A).getCode())
        .as("another CA's root").isEqualTo(Status.Code.UNAVAILABLE);
    Status anonymous = firstAnswer(ControlPlaneTls.client(roots, null, null), null);
    assertThat(anonymous.getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(firstAnswer(ControlPlaneTls.client(roots, null, null), "not-a-token").getCode())
        .isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(firstAnswer(ControlPlaneTls.client(roots, null, null), ZTUNNEL_A).getCode())
        .as("root and token").isEqualTo(Status.Code.OK);
  }

  /** How the TLS port answers a delta-ADS stream (tls null: plaintext): OK once a response arrives. */
  private Status firstAnswer(SslContext tls, String token) throws Exception {
    return XdsProbe.firstAnswer(tlsTarget(running), tls, "ambientj-config." + NS + ".svc",
        token == null ? null : "Bearer " + token);
  }

  private static X509Certificate leaf(List<String> chain) {
    return ControlPlaneTls.parseCertificates(chain.get(0)).get(0);
  }

  /** A JSSE context presenting {@code issued} and trusting {@code roots} (mutual TLS). */
  private static SSLContext tls(Issued issued, List<X509Certificate> roots) throws Exception {
    List<X509Certificate> chain = ControlPlaneTls.parseCertificates(String.join("\n", issued.chain()));
    PrivateKey key = issued.key().keyPair().getPrivate();
    char[] pw = "x".toCharArray();
    KeyStore ks = KeyStore.getInstance("PKCS12");
    ks.load(null, null);
    ks.setKeyEntry("me", key, pw, chain.toArray(new X509Certificate[0]));
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(ks, pw);
    KeyStore ts = KeyStore.getInstance("PKCS12");
    ts.load(null, null);
    for (int i = 0; i < roots.size(); i++) {
      ts.setCertificateEntry("root" + i, roots.get(i));
    }
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(ts);
    SSLContext ctx = SSLContext.getInstance("TLSv1.3");
    ctx.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
    return ctx;
  }

  @Test
  void anUnknownFlagValueOfTrustedAccountsIsAUsageError() {
    assertThatThrownBy(() -> ConfigServerCommand.Options.parse(new String[] {
        "--kubernetes", "--ca-trusted-node-accounts", "ztunnel"}))
        .hasMessageContaining("expected NS/SA");
  }
}
