package dev.ambientj.config.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.ca.BearerAuthentication;
import dev.ambientj.config.ca.CaClient;
import dev.ambientj.config.ca.CaClientException;
import dev.ambientj.config.ca.CallerAuthenticator;
import dev.ambientj.config.ca.ControlPlaneTls;
import dev.ambientj.config.ca.CsrFactory;
import dev.ambientj.config.proto.ca.IstioCertificateRequest;
import dev.ambientj.config.proto.ca.IstioCertificateServiceGrpc;
import dev.ambientj.config.xds.XdsServer;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.handler.ssl.SslContext;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Who the config server serves, on both ports: a call carrying a bearer token that is not valid is
 * refused with UNAUTHENTICATED (xDS and the CA), never served as if anonymous; on the plaintext
 * port an xDS stream without any token is still served (as Istio's 15010), the CA never signs for
 * a caller without a valid token, and on the TLS port xDS needs a client certificate or a valid
 * token.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ConfigServerAuthenticationTest {
  private static final String GATEWAY = "spiffe://cluster.local/ns/production/sa/api-gateway";
  private static final String INVALID = "not-a-node-token";

  @TempDir static Path tmp;
  ConfigServerCommand.Running running;
  List<X509Certificate> roots;
  SslContext withWorkloadCertificate;
  String nodeToken;

  @BeforeAll
  void start() throws Exception {
    Path examples = Path.of("").toAbsolutePath();
    while (!Files.isDirectory(examples.resolve("examples"))) {
      examples = examples.getParent();
    }
    running = ConfigServerCommand.start(new String[] {
        "--config", examples.resolve("examples/mesh.yaml").toString(),
        "--state-dir", tmp.resolve("state").toString(),
        "--listen", "127.0.0.1:0", "--listen-tls", "127.0.0.1:0"},
        new PrintStream(new ByteArrayOutputStream(), true));
    roots = ControlPlaneTls.parseCertificates(Files.readString(running.state().trustBundleFile()));
    nodeToken = Files.readString(running.tokens().tokenFile("node-a")).strip();
    CsrFactory.Generated csr = CsrFactory.create(GATEWAY);
    List<String> chain = ca(running.tlsServer().address(), nodeToken).fetchCertificate(
        csr.csrPem(), Duration.ofHours(1), GATEWAY).get(20, TimeUnit.SECONDS);
    withWorkloadCertificate = ControlPlaneTls.client(roots, csr.keyPair().getPrivate(),
        ControlPlaneTls.parseCertificates(String.join("\n", chain)));
  }

  @AfterAll
  void stop() {
    running.close();
  }

  @Test
  void plaintextXdsServesNoTokenAndAValidTokenButRefusesAnInvalidOne() throws Exception {
    InetSocketAddress plain = running.server().address();
    assertThat(firstAnswer(plain, null, null).getCode()).as("no token").isEqualTo(Status.Code.OK);
    assertThat(firstAnswer(plain, null, "Bearer " + nodeToken).getCode()).as("node token")
        .isEqualTo(Status.Code.OK);
    Status invalid = firstAnswer(plain, null, "Bearer " + INVALID);
    assertThat(invalid.getCode()).as("an invalid token").isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(invalid.getDescription()).contains("not a known node token")
        .doesNotContain(INVALID);
    assertThat(firstAnswer(plain, null, "Basic dXNlcjpwYXNz").getCode())
        .as("another scheme").isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(firstAnswer(plain, null, "Bearer ").getCode())
        .as("an empty token").isEqualTo(Status.Code.UNAUTHENTICATED);
  }

  @Test
  void tlsXdsRefusesAnInvalidTokenEvenWithAValidClientCertificate() throws Exception {
    InetSocketAddress tls = running.tlsServer().address();
    assertThat(firstAnswer(tls, withWorkloadCertificate, null).getCode())
        .as("client certificate alone").isEqualTo(Status.Code.OK);
    assertThat(firstAnswer(tls, withWorkloadCertificate, "Bearer " + INVALID).getCode())
        .as("client certificate and an invalid token").isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(firstAnswer(tls, ControlPlaneTls.client(roots, null, null), "Bearer " + INVALID)
        .getCode()).as("an invalid token alone").isEqualTo(Status.Code.UNAUTHENTICATED);
  }

  @Test
  void theCaRefusesAnInvalidTokenOnBothPortsAndNoTokenOnPlaintext() throws Exception {
    for (InetSocketAddress port : List.of(running.server().address(),
        running.tlsServer().address())) {
      assertThat(caAnswer(port, INVALID)).as("invalid token on %s", port)
          .isEqualTo(Status.Code.UNAUTHENTICATED);
      assertThat(caAnswer(port, nodeToken)).as("node token on %s", port)
          .isEqualTo(Status.Code.OK);
    }
    assertThat(caAnswer(running.server().address(), "")).as("an empty token")
        .isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(caAnswerWithoutToken(running.server().address()))
        .as("no authorization header on plaintext").isEqualTo(Status.Code.UNAUTHENTICATED);
  }

  private Status.Code caAnswerWithoutToken(InetSocketAddress port) throws Exception {
    ManagedChannel channel = NettyChannelBuilder.forAddress(port).usePlaintext().build();
    try {
      IstioCertificateServiceGrpc.newBlockingStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS)
          .createCertificate(IstioCertificateRequest.newBuilder()
              .setCsr(CsrFactory.create(GATEWAY).csrPem()).build());
      return Status.Code.OK;
    } catch (StatusRuntimeException e) {
      return e.getStatus().getCode();
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  @Test
  void aTokenThatCouldNotBeReviewedIsRefusedWithUnavailableNotServedAsAnonymous()
      throws Exception {
    CallerAuthenticator apiServerDown = token -> {
      throw new CallerAuthenticator.Rejected(Status.Code.UNAVAILABLE,
          "the TokenReview of the bearer token failed: connect timed out", null);
    };
    XdsServer xds = XdsServer.builder(running.publisher()).build();
    try (ConfigServer server = ConfigServer.builder(new InetSocketAddress("127.0.0.1", 0))
        .interceptor(new BearerAuthentication(List.of(apiServerDown), "a service-account token"))
        .service(xds).start()) {
      String target = "127.0.0.1:" + server.address().getPort();
      Status refused = XdsProbe.firstAnswer(target, null, null, "Bearer a-projected-token");
      assertThat(refused.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
      assertThat(refused.getDescription()).contains("TokenReview");
      assertThat(XdsProbe.firstAnswer(target, null, null, null).getCode())
          .as("no token on plaintext").isEqualTo(Status.Code.OK);
    } finally {
      xds.close();
    }
  }

  private Status.Code caAnswer(InetSocketAddress port, String token) throws Exception {
    CsrFactory.Generated csr = CsrFactory.create(GATEWAY);
    try (CaClient ca = ca(port, token)) {
      ca.fetchCertificate(csr.csrPem(), Duration.ofHours(1), GATEWAY).get(20, TimeUnit.SECONDS);
      return Status.Code.OK;
    } catch (ExecutionException e) {
      return ((CaClientException) e.getCause()).status().getCode();
    }
  }

  private CaClient ca(InetSocketAddress port, String token) throws Exception {
    CaClient.Builder b = CaClient.builder("127.0.0.1:" + port.getPort()).token(() -> token)
        .timeout(Duration.ofSeconds(20));
    if (port.equals(running.tlsServer().address())) {
      b.tls(ControlPlaneTls.client(roots, null, null));
    }
    return b.build();
  }

  private Status firstAnswer(InetSocketAddress port, SslContext tls, String authorization)
      throws Exception {
    return XdsProbe.firstAnswer("127.0.0.1:" + port.getPort(), tls, ControlPlaneTls.SERVER_NAME,
        authorization);
  }
}
