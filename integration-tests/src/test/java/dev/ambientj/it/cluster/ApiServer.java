package dev.ambientj.it.cluster;

import dev.ambientj.config.zds.Netns;
import dev.ambientj.testing.PausableTcpProxy;
import dev.ambientj.ztunnel.inpod.NetnsExecutor;
import io.fabric8.kubernetes.api.model.authentication.TokenReview;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewBuilder;
import io.fabric8.kubernetes.client.NamespacedKubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Instant;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLServerSocket;

/**
 * The cluster's API server: Fabric8's mock server in CRUD mode (objects are stored, listed and
 * watched as a real one does), plus what the mesh asks of a real one that CRUD mode lacks —
 * TokenReviews of the service-account tokens this class issued (as the kubelet's projected
 * volumes get them), answered with the user, audiences and the pod/node extras of a bound token.
 *
 * <p>Pods reach it as in a cluster: {@code https://<kubernetes Service VIP>:443}, kube-proxy's DNAT
 * taking them to {@link #endpoint} (an address in the underlay namespace), where a TLS front with a
 * certificate of this server's own CA (the {@code ca.crt} every pod gets) relays to the mock on
 * loopback. The mock itself stays plain HTTP on 127.0.0.1 for the harness's own client.
 */
final class ApiServer implements AutoCloseable {
  /** Username of the harness's admin client (no authentication is enforced on requests). */
  private static final SecureRandom RANDOM = new SecureRandom();

  /** What the API server knows of a token it issued (a bound service-account token). */
  record IssuedToken(String namespace, String serviceAccount, String pod, String podUid,
      String node, List<String> audiences, Instant expires) {}

  private final KubernetesMockServer mock;
  private final NamespacedKubernetesClient client;
  private final Map<String, IssuedToken> tokens = new ConcurrentHashMap<>();
  private final AtomicInteger reviews = new AtomicInteger();
  private final Path caCert;
  private final Path serverCert;
  private final Path serverKey;
  private ServerSocket front;
  private InetSocketAddress endpoint;

  /** The mock logs every request at INFO; a cluster's worth of watches and lists drowns the test log. */
  private static final java.util.logging.Logger MOCK_LOG = java.util.logging.Logger.getLogger("io.fabric8.mockwebserver");

  static {
    MOCK_LOG.setLevel(java.util.logging.Level.WARNING);
  }

  private ApiServer(Path dir) throws IOException {
    Map<ServerRequest, Queue<ServerResponse>> responses = new HashMap<>();
    mock = new KubernetesMockServer(new Context(Serialization.jsonMapper()), new MockWebServer(),
        responses, new KubernetesMixedDispatcher(responses), false);
    mock.init(InetAddress.getLoopbackAddress(), 0);
    mock.expect().post().withPath("/apis/authentication.k8s.io/v1/tokenreviews")
        .andReply(201, req -> review(req.getUtf8Body())).always();
    client = mock.createClient();
    caCert = dir.resolve("apiserver-ca.crt");
    serverCert = dir.resolve("apiserver.crt");
    serverKey = dir.resolve("apiserver.key");
  }

  /**
   * Starts the mock; {@link #serveTls} exposes it to the nodes.
   *
   * <p>The only Netty in this JVM is then the mock's (Vert.x): ambientj's own code runs in the pods'
   * processes. Paranoid leak tracking of every buffer of a cluster's worth of API traffic made the
   * mock so slow that the pods' API clients missed their 10 s timeouts and crash-looped, so this
   * JVM samples leaks ({@code SIMPLE}) instead; a leak found is still reported.
   */
  static ApiServer start(Path dir) throws IOException {
    io.netty.util.ResourceLeakDetector.setLevel(io.netty.util.ResourceLeakDetector.Level.SIMPLE);
    Files.createDirectories(dir);
    return new ApiServer(dir);
  }

  /** The harness's own client (the cluster admin's kubectl, so to speak). */
  NamespacedKubernetesClient client() {
    return client;
  }

  /** The CA certificate pods trust the API server with ({@code ca.crt} of their token volume). */
  Path caCertificate() {
    return caCert;
  }

  InetSocketAddress endpoint() {
    return endpoint;
  }

  int reviews() {
    return reviews.get();
  }

  /**
   * Serves the API over TLS at {@code ip:port} inside network namespace {@code netns}, with a
   * certificate for {@code ip} and each of {@code names} (the Service VIP and DNS names pods use).
   */
  void serveTls(NetnsExecutor netnsExecutor, String netns, InetAddress ip, int port,
      List<String> names) throws Exception {
    Path dir = caCert.getParent();
    Path caKey = dir.resolve("apiserver-ca.key");
    Sh.run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-days", "2", "-subj", "/CN=harness-kubernetes-ca", "-keyout", caKey.toString(),
        "-out", caCert.toString());
    Path csr = dir.resolve("apiserver.csr");
    Sh.run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-subj", "/CN=kube-apiserver", "-keyout", serverKey.toString(), "-out", csr.toString());
    StringBuilder san = new StringBuilder("subjectAltName=IP:" + ip.getHostAddress());
    for (String n : names) {
      san.append(n.chars().allMatch(c -> Character.isDigit(c) || c == '.') ? ",IP:" : ",DNS:").append(n);
    }
    Path ext = dir.resolve("apiserver.ext");
    Files.writeString(ext, san + "\n");
    Sh.run("openssl", "x509", "-req", "-in", csr.toString(), "-CA", caCert.toString(), "-CAkey",
        caKey.toString(), "-CAcreateserial", "-days", "2", "-extfile", ext.toString(), "-out",
        serverCert.toString());
    SSLContext tls = serverContext();
    int fd = Netns.open(Path.of("/run/netns/" + netns));
    try {
      front = netnsExecutor.call(fd, () -> {
        SSLServerSocket s = (SSLServerSocket) tls.getServerSocketFactory().createServerSocket();
        s.setReuseAddress(true);
        s.bind(new InetSocketAddress(ip, port), 128);
        return s;
      });
    } finally {
      Netns.close(fd);
    }
    endpoint = new InetSocketAddress(ip, port);
    Thread.ofVirtual().name("apiserver-front").start(this::acceptLoop);
  }

  private SSLContext serverContext() throws Exception {
    CertificateFactory cf = CertificateFactory.getInstance("X.509");
    Certificate leaf;
    try (InputStream in = Files.newInputStream(serverCert)) {
      leaf = cf.generateCertificate(in);
    }
    String pem = Files.readString(serverKey).replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
    PrivateKey key = KeyFactory.getInstance("EC")
        .generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(pem)));
    KeyStore ks = KeyStore.getInstance("PKCS12");
    ks.load(null, null);
    char[] pw = "harness".toCharArray();
    ks.setKeyEntry("apiserver", key, pw, new Certificate[] {leaf});
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(ks, pw);
    SSLContext ctx = SSLContext.getInstance("TLS");
    ctx.init(kmf.getKeyManagers(), null, null);
    return ctx;
  }

  private void acceptLoop() {
    while (!front.isClosed()) {
      try {
        Socket in = front.accept();
        Thread.ofVirtual().name("apiserver-conn").start(() -> relay(in));
      } catch (IOException e) {
        return; // closed
      }
    }
  }

  /** One pod's connection: TLS in, plain HTTP to the mock; both end when either side does. */
  private void relay(Socket in) {
    try (in; Socket out = new Socket(InetAddress.getLoopbackAddress(), mock.getPort())) {
      Thread back = Thread.ofVirtual().start(() -> PausableTcpProxy.pump(out, in));
      PausableTcpProxy.pump(in, out);
      back.join();
    } catch (IOException | InterruptedException e) {
      // the pod or the mock went away
    }
  }

  /**
   * Issues a bound service-account token, as the kubelet obtains one for a projected volume (the
   * TokenRequest API): JWT-shaped, random, known to {@link #review}.
   */
  String issueToken(String namespace, String serviceAccount, String pod, String podUid, String node,
      String audience, long expirationSeconds) {
    Base64.Encoder b64 = Base64.getUrlEncoder().withoutPadding();
    byte[] secret = new byte[32];
    RANDOM.nextBytes(secret);
    String header = b64.encodeToString("{\"alg\":\"ES256\",\"kid\":\"harness\"}".getBytes(StandardCharsets.UTF_8));
    Instant exp = Instant.now().plusSeconds(expirationSeconds);
    String claims = b64.encodeToString(("{\"aud\":[\"" + audience + "\"],\"exp\":" + exp.getEpochSecond()
        + ",\"sub\":\"system:serviceaccount:" + namespace + ":" + serviceAccount + "\"}")
        .getBytes(StandardCharsets.UTF_8));
    String token = header + "." + claims + "." + b64.encodeToString(secret);
    tokens.put(token, new IssuedToken(namespace, serviceAccount, pod, podUid, node, List.of(audience), exp));
    return token;
  }

  /** Forgets every token bound to pod {@code podUid} (the pod was deleted: its tokens die with it). */
  void revokeTokensOf(String podUid) {
    tokens.values().removeIf(t -> t.podUid().equals(podUid));
  }

  private String review(String body) {
    reviews.incrementAndGet();
    TokenReview req = Serialization.unmarshal(body, TokenReview.class);
    IssuedToken t = tokens.get(req.getSpec().getToken());
    List<String> wanted = req.getSpec().getAudiences() == null ? List.of() : req.getSpec().getAudiences();
    var b = new TokenReviewBuilder(req).withNewStatus();
    if (t == null || t.expires().isBefore(Instant.now())) {
      b.withAuthenticated(false).withError("invalid bearer token");
    } else if (!wanted.isEmpty() && wanted.stream().noneMatch(t.audiences()::contains)) {
      b.withAuthenticated(false).withError("token audiences " + t.audiences() + " do not match " + wanted);
    } else {
      b.withAuthenticated(true).withAudiences(wanted.isEmpty() ? t.audiences() : wanted).withNewUser()
          .withUsername("system:serviceaccount:" + t.namespace() + ":" + t.serviceAccount())
          .withExtra(Map.of("authentication.kubernetes.io/pod-name", List.of(t.pod()),
              "authentication.kubernetes.io/pod-uid", List.of(t.podUid()),
              "authentication.kubernetes.io/node-name", List.of(t.node())))
          .endUser();
    }
    return Serialization.asJson(b.endStatus().build());
  }

  @Override
  public void close() {
    try {
      if (front != null) {
        front.close();
      }
    } catch (IOException e) {
      // closing anyway
    }
    client.close();
    mock.destroy();
  }
}
