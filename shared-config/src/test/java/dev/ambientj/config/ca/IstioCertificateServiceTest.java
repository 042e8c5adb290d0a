package dev.ambientj.config.ca;

import static dev.ambientj.config.ca.TestPki.API_GATEWAY;
import static dev.ambientj.config.ca.TestPki.ORDERS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.proto.ca.IstioCertificateRequest;
import dev.ambientj.config.proto.ca.IstioCertificateServiceGrpc;
import dev.ambientj.config.server.ConfigServer;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CA over a real gRPC server on 127.0.0.1:0, called the way a ztunnel on node-a calls it. */
class IstioCertificateServiceTest {
  @TempDir Path tmp;

  private CaStateDirectory state;
  private NodeTokens tokens;
  private ConfigServer server;
  private CaClient nodeA;
  private String target;

  @BeforeEach
  void start() throws Exception {
    SnapshotPublisher publisher = new SnapshotPublisher();
    publisher.publish(TestPki.exampleMesh());
    state = CaStateDirectory.open(tmp.resolve("state"), "cluster.local");
    tokens = NodeTokens.open(state.nodeTokensDirectory());
    publisher.subscribe(tokens);
    server =
        ConfigServer.builder(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
            .interceptor(new NodeTokenAuthenticator(tokens))
            .service(
                new IstioCertificateServiceImpl(
                    CertificateAuthority.of(state, Duration.ofHours(24)), publisher))
            .start();
    target = "127.0.0.1:" + server.address().getPort();
    nodeA = client(tokens.tokenFile("node-a"));
  }

  @AfterEach
  void stop() {
    nodeA.close();
    server.close();
  }

  private CaClient client(Path tokenFile) {
    return CaClient.builder(target).tokenFile(tokenFile).timeout(Duration.ofSeconds(20)).build();
  }

  @Test
  void issuesAVerifiableChainForAnIdentityOnTheCallersNode() throws Exception {
    CsrFactory.Generated g = CsrFactory.create(API_GATEWAY);
    Instant before = Instant.now();

    List<String> pem = nodeA.createCertificate(g.csrPem(), Duration.ofHours(1), API_GATEWAY).get(20, TimeUnit.SECONDS);

    List<X509Certificate> chain = TestPki.parse(pem);
    assertThat(chain).hasSize(2);
    X509Certificate leaf = chain.get(0);
    assertThat(chain.get(1)).isEqualTo(state.roots().signer().certificate());
    assertThat(TestPki.uriSans(leaf)).containsExactly(API_GATEWAY);
    assertThat(leaf.getPublicKey()).isEqualTo(g.keyPair().getPublic());
    assertThat(TestPki.verify(chain, state.roots().trustBundle()))
        .isEqualTo(state.roots().signer().certificate());
    Duration lifetime = Duration.between(before, leaf.getNotAfter().toInstant());
    assertThat(lifetime).isBetween(Duration.ofMinutes(59), Duration.ofHours(1).plusSeconds(1));
  }

  @Test
  void aLongerLifetimeThanTheMaximumIsShortenedTo24h() throws Exception {
    Instant before = Instant.now();
    List<String> pem =
        nodeA.fetchCertificate(CsrFactory.create(API_GATEWAY).csrPem(), Duration.ofDays(7), API_GATEWAY)
            .get(20, TimeUnit.SECONDS);
    Duration lifetime = Duration.between(before, TestPki.parse(pem).get(0).getNotAfter().toInstant());
    assertThat(lifetime).isBetween(Duration.ofHours(24).minusMinutes(1), Duration.ofHours(24).plusSeconds(1));
  }

  @Test
  void aWrongTokenIsUnauthenticated() throws Exception {
    Path bogus = tmp.resolve("bogus.token");
    java.nio.file.Files.writeString(bogus, "not-a-node-token\n");
    try (CaClient c = client(bogus)) {
      CaClientException e = failure(c.fetchCertificate(CsrFactory.create(API_GATEWAY).csrPem(), null, API_GATEWAY));
      assertThat(e.status().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
      assertThat(e.getMessage()).contains("not a known node token").doesNotContain("not-a-node-token");
    }
  }

  @Test
  void noTokenAtAllIsUnauthenticated() {
    ManagedChannel ch = NettyChannelBuilder.forTarget(target).usePlaintext().build();
    try {
      var stub = IstioCertificateServiceGrpc.newBlockingStub(ch).withDeadlineAfter(20, TimeUnit.SECONDS);
      assertThatThrownBy(
              () -> stub.createCertificate(
                  IstioCertificateRequest.newBuilder().setCsr(CsrFactory.create(API_GATEWAY).csrPem()).build()))
          .isInstanceOfSatisfying(
              StatusRuntimeException.class,
              e -> {
                assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
                assertThat(e.getStatus().getDescription()).contains("no authorization header");
              });
    } finally {
      ch.shutdownNow();
    }
  }

  @Test
  void anIdentityNotOnTheCallersNodeIsDeniedNamingBoth() throws Exception {
    // orders-0 runs on node-b; node-a asks for its identity
    CaClientException e = failure(nodeA.fetchCertificate(CsrFactory.create(ORDERS).csrPem(), null, ORDERS));
    assertThat(e.status().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(e.status().getDescription()).contains(ORDERS).contains("node-a");

    // node-b may
    try (CaClient nodeB = client(tokens.tokenFile("node-b"))) {
      assertThat(nodeB.fetchCertificate(CsrFactory.create(ORDERS).csrPem(), null, ORDERS).get(20, TimeUnit.SECONDS))
          .hasSize(2);
    }
  }

  @Test
  void aRequestWithoutImpersonationIsDenied() throws Exception {
    CaClientException e = failure(nodeA.fetchCertificate(CsrFactory.create(API_GATEWAY).csrPem(), null, null));
    assertThat(e.status().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(e.status().getDescription()).contains("ImpersonatedIdentity");
  }

  @Test
  void aCsrForAnotherTrustDomainIsInvalid() throws Exception {
    String other = "spiffe://other.domain/ns/production/sa/api-gateway";
    CaClientException e = failure(nodeA.fetchCertificate(CsrFactory.create(other).csrPem(), null, API_GATEWAY));
    assertThat(e.status().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(e.status().getDescription()).contains("other.domain").contains("cluster.local");
  }

  @Test
  void aCsrWithABadSignatureIsInvalid() throws Exception {
    CaClientException e = failure(nodeA.fetchCertificate(TestPki.forgedCsrPem(API_GATEWAY), null, API_GATEWAY));
    assertThat(e.status().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(e.status().getDescription()).contains("signature");
  }

  @Test
  void aCsrForAnotherIdentityThanTheImpersonatedOneIsInvalid() throws Exception {
    CaClientException e = failure(nodeA.fetchCertificate(CsrFactory.create(ORDERS).csrPem(), null, API_GATEWAY));
    assertThat(e.status().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(e.status().getDescription()).contains(ORDERS).contains(API_GATEWAY);
  }

  @Test
  void afterARootRotationNewLeavesComeFromTheNewRootAndOldLeavesStillVerify() throws Exception {
    List<X509Certificate> old =
        TestPki.parse(nodeA.fetchCertificate(CsrFactory.create(API_GATEWAY).csrPem(), null, API_GATEWAY)
            .get(20, TimeUnit.SECONDS));
    X509Certificate oldRoot = state.roots().signer().certificate();

    CaRoot newRoot = state.rotateRoot();
    List<X509Certificate> fresh =
        TestPki.parse(nodeA.fetchCertificate(CsrFactory.create(API_GATEWAY).csrPem(), null, API_GATEWAY)
            .get(20, TimeUnit.SECONDS));

    List<X509Certificate> bundle =
        CaPem.parseCertificates(java.nio.file.Files.readString(state.trustBundleFile()));
    assertThat(bundle).containsExactly(oldRoot, newRoot.certificate());
    assertThat(fresh.get(1)).isEqualTo(newRoot.certificate());
    assertThat(TestPki.verify(fresh, bundle)).isEqualTo(newRoot.certificate());
    assertThat(TestPki.verify(old, bundle)).isEqualTo(oldRoot);
  }

  private static CaClientException failure(CompletableFuture<List<String>> f) throws Exception {
    try {
      List<String> r = f.get(20, TimeUnit.SECONDS);
      throw new AssertionError("expected a failure, got " + r.size() + " certificates");
    } catch (ExecutionException e) {
      assertThat(e.getCause()).isInstanceOf(CaClientException.class);
      return (CaClientException) e.getCause();
    }
  }
}
