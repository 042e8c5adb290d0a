package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.launcher.demo.HttpOverSocks;
import dev.ambientj.launcher.demo.Socks5Client;
import dev.ambientj.waypoint.Waypoint;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCalls;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The protocols a waypoint must carry, through the whole path with real mutual TLS on every hop
 * (example mesh moved to 127.63.x, plus a gRPC service {@code greeter} bound to the same waypoint):
 *
 * <pre>
 * client ──SOCKS5 or capture──▶ ztunnel node-a ──HBONE──▶ payment-waypoint ──HBONE──▶ ztunnel node-b ──▶ pod
 * </pre>
 *
 * <p>HTTP/1.1 keep-alive and HTTP/2 (curl, several requests on one connection); gRPC unary and
 * server streaming between grpc-java's own client and server (the client reaches ztunnel's
 * outbound capture listener, whose original destination the test binder reports as the greeter
 * VIP, as the kernel's REDIRECT would); and bad input — a malformed request line, oversized
 * headers, a bad HTTP/2 preface — answered 400 / 431 / GOAWAY while the waypoint keeps serving.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class L7ProtocolsThroughZtunnelTest {
  private static final String P = "127.63";
  private static final String PAYMENT = "payment-service.production.svc.cluster.local";
  private static final String GREETER = "greeter.production.svc.cluster.local";
  private static final String WAYPOINT_ID = "spiffe://cluster.local/ns/production/sa/payment-waypoint";

  /** A gRPC service on node-b, bound to the payment waypoint (port named grpc, appProtocol grpc). */
  private static final String GREETER_YAML = """
      ---
      apiVersion: v1
      kind: ServiceAccount
      metadata:
        name: greeter
        namespace: production
      ---
      apiVersion: v1
      kind: Pod
      metadata:
        name: greeter-0
        namespace: production
        labels:
          app: greeter
      spec:
        nodeName: node-b
        serviceAccountName: greeter
        containers:
        - name: greeter
          image: example/greeter:1.0
          ports:
          - name: grpc
            containerPort: 9090
      status:
        phase: Running
        podIP: 127.0.2.40
        podIPs:
        - ip: 127.0.2.40
      ---
      apiVersion: v1
      kind: Service
      metadata:
        name: greeter
        namespace: production
        labels:
          istio.io/use-waypoint: payment-waypoint
      spec:
        clusterIP: 127.10.0.40
        selector:
          app: greeter
        ports:
        - name: grpc
          port: 9090
          targetPort: 9090
          appProtocol: grpc
      """;

  private static final MethodDescriptor.Marshaller<String> UTF8 = new MethodDescriptor.Marshaller<>() {
    @Override
    public InputStream stream(String value) {
      return new ByteArrayInputStream(value.getBytes(StandardCharsets.UTF_8));
    }

    @Override
    public String parse(InputStream stream) {
      try {
        return new String(stream.readAllBytes(), StandardCharsets.UTF_8);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  };
  private static final MethodDescriptor<String, String> SAY_HELLO =
      MethodDescriptor.<String, String>newBuilder().setType(MethodDescriptor.MethodType.UNARY)
          .setFullMethodName("demo.Greeter/SayHello")
          .setRequestMarshaller(UTF8).setResponseMarshaller(UTF8).build();
  private static final MethodDescriptor<String, String> SAY_HELLOS =
      MethodDescriptor.<String, String>newBuilder().setType(MethodDescriptor.MethodType.SERVER_STREAMING)
          .setFullMethodName("demo.Greeter/SayHellos")
          .setRequestMarshaller(UTF8).setResponseMarshaller(UTF8).build();

  private Mesh mesh;
  private Waypoint waypoint;
  private InetSocketAddress socks;
  private Server greeter;
  private ManagedChannel grpc;

  @BeforeAll
  void startMesh() throws Exception {
    String yaml = TestMeshes.relocate(TestMeshes.exampleFile("mesh.yaml") + "\n" + GREETER_YAML, P);
    mesh = Mesh.fromYaml(yaml);
    InetSocketAddress capture = new InetSocketAddress(P + ".1.10", 15001);
    mesh.node("node-a").binder(new RedirectingBinder(Map.of(capture, new InetSocketAddress(P + ".10.40", 9090))))
        .ztunnel();
    mesh.node("node-b").ztunnel();
    mesh.workload("payment-v1-0").httpEcho(8080);
    mesh.workload("payment-v2-0").httpEcho(8080);
    greeter = NettyServerBuilder.forAddress(new InetSocketAddress(P + ".2.40", 9090))
        .addService(greeterService("greeter-0")).build().start();
    SnapshotPublisher waypointConfig = new SnapshotPublisher();
    waypointConfig.publish(mesh.snapshot());
    waypoint = mesh.own(Waypoint.builder().name("payment-waypoint").namespace("production")
        .config(waypointConfig)
        .identityProvider(mesh.ca().asIdentityProvider(Duration.ofHours(1)))
        .transport(mesh.transport())
        .eventLoopGroup(mesh.group())
        .build()
        .start());
    socks = mesh.workload("api-gateway-0").socks();
    grpc = NettyChannelBuilder.forAddress(capture).usePlaintext()
        .overrideAuthority(GREETER + ":9090").build();
  }

  @AfterAll
  void stopMesh() throws Exception {
    if (grpc != null) {
      grpc.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    if (greeter != null) {
      greeter.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    if (mesh != null) {
      mesh.close();
    }
  }

  /**
   * Several requests on one HTTP/2 connection from an independent client (Node's http2 module
   * through SOCKS5): three one at a time (stream ids 1, 3, 5), then three at once; then the client
   * closes its session and the connection ends (the process exits). curl is not used here: curl
   * 7.88 fails a second request on a prior-knowledge connection even against Node's own server.
   */
  @Test
  void nodeSendsSeveralHttp2RequestsOnOneConnectionAndEndsIt() throws Exception {
    Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/node")), "node is not installed");
    Path script = Path.of(getClass().getResource("/h2-over-socks.js").toURI());
    Process node = new ProcessBuilder("node", script.toString(), socks.getHostString(),
        String.valueOf(socks.getPort()), PAYMENT, "80", "/one", "/two", "/three")
        .redirectErrorStream(true).start();
    boolean exited = node.waitFor(30, TimeUnit.SECONDS);
    if (!exited) {
      node.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
    }
    String out = new String(node.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(exited).as("the client's session ended: " + out).isTrue();
    assertThat(node.exitValue()).as(out).isZero();
    List<String> lines = out.lines().toList();
    assertThat(lines).as(out).hasSize(6);
    assertThat(lines).extracting(l -> l.substring(0, l.indexOf(' ', l.indexOf(' ') + 1)))
        .containsExactly("/one 200", "/two 200", "/three 200",
            "/one-concurrent 200", "/two-concurrent 200", "/three-concurrent 200");
    assertThat(lines).allSatisfy(l -> assertThat(l).contains("\"peer\":\"" + WAYPOINT_ID + "\""));
  }

  @Test
  void http11KeepAliveCarriesManyRequestsOnOneConnection() throws Exception {
    try (HttpOverSocks http = HttpOverSocks.open(socks, PAYMENT, 80, Mesh.TIMEOUT)) {
      for (int i = 0; i < 20; i++) {
        HttpOverSocks.Response r = http.get("/keep/" + i, Map.of());
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        assertThat(r.body()).contains("\"workload\":\"payment-v");
        assertThat(http.isOpen()).isTrue();
      }
    }
  }

  @Test
  void grpcUnaryAndServerStreamingBetweenGrpcJavaPeers() {
    String hello = ClientCalls.blockingUnaryCall(grpc, SAY_HELLO,
        CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS), "ada");
    assertThat(hello).isEqualTo("hello ada from greeter-0");

    List<String> hellos = new ArrayList<>();
    Iterator<String> it = ClientCalls.blockingServerStreamingCall(grpc, SAY_HELLOS,
        CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS), "bob");
    it.forEachRemaining(hellos::add);
    assertThat(hellos).containsExactly("hello bob #1", "hello bob #2", "hello bob #3", "hello bob #4",
        "hello bob #5");

    // an application error travels back as the gRPC status, not as a transport failure
    assertThat(org.assertj.core.api.Assertions.catchThrowableOfType(StatusRuntimeException.class,
        () -> ClientCalls.blockingUnaryCall(grpc, SAY_HELLO,
            CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS), "")).getStatus().getCode())
        .isEqualTo(Status.Code.INVALID_ARGUMENT);

    assertThat(waypoint.metrics().scrape()).containsPattern(
        "istio_requests_total\\{[^}]*destination_workload=\"greeter-0\"[^}]*reporter=\"waypoint\"");
  }

  @Test
  void badInputIsAnswered400And431AndGoawayAndTheWaypointKeepsServing() throws Exception {
    try (Socket s = Socks5Client.connect(socks, PAYMENT, 80, Mesh.TIMEOUT)) {
      s.getOutputStream().write("BAD REQUEST LINE!\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      assertThat(readUntilClosed(s, 10_000)).startsWith("HTTP/1.1 400");
    }
    try (Socket s = Socks5Client.connect(socks, PAYMENT, 80, Mesh.TIMEOUT)) {
      s.getOutputStream().write(("GET /big HTTP/1.1\r\nHost: " + PAYMENT + "\r\nx-big: "
          + "a".repeat(70 * 1024) + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      assertThat(readUntilClosed(s, 10_000)).startsWith("HTTP/1.1 431");
    }
    try (Socket s = Socks5Client.connect(socks, PAYMENT, 80, Mesh.TIMEOUT)) {
      s.getOutputStream().write("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      byte[] reply = readUntilClosed(s, 10_000).getBytes(StandardCharsets.ISO_8859_1);
      assertThat(containsFrameType(reply, 0x7)).as("a GOAWAY frame in the reply to a bad preface").isTrue();
    }
    try (HttpOverSocks http = HttpOverSocks.open(socks, PAYMENT, 80, Mesh.TIMEOUT)) {
      assertThat(http.get("/still-here", Map.of()).status()).isEqualTo(200);
    }
  }

  private static String readUntilClosed(Socket s, int timeoutMillis) throws IOException {
    s.setSoTimeout(timeoutMillis);
    ByteArrayOutputStream all = new ByteArrayOutputStream();
    byte[] buf = new byte[8192];
    try {
      for (int n; (n = s.getInputStream().read(buf)) >= 0; ) {
        all.write(buf, 0, n);
      }
    } catch (SocketTimeoutException e) {
      // what arrived is the answer; the assertions say whether it was enough
    }
    return all.toString(StandardCharsets.ISO_8859_1);
  }

  /** Walks HTTP/2 frames after the server's (possibly absent) preface-less start. */
  private static boolean containsFrameType(byte[] b, int type) {
    for (int i = 0; i + 9 <= b.length; ) {
      int len = ((b[i] & 0xff) << 16) | ((b[i + 1] & 0xff) << 8) | (b[i + 2] & 0xff);
      if ((b[i + 3] & 0xff) == type) {
        return true;
      }
      i += 9 + len;
    }
    return false;
  }

  private static ServerServiceDefinition greeterService(String pod) {
    return ServerServiceDefinition.builder("demo.Greeter")
        .addMethod(SAY_HELLO, ServerCalls.asyncUnaryCall((String name, io.grpc.stub.StreamObserver<String> out) -> {
          if (name.isEmpty()) {
            out.onError(Status.INVALID_ARGUMENT.withDescription("name is empty").asRuntimeException());
            return;
          }
          out.onNext("hello " + name + " from " + pod);
          out.onCompleted();
        }))
        .addMethod(SAY_HELLOS, ServerCalls.asyncServerStreamingCall((String name, io.grpc.stub.StreamObserver<String> out) -> {
          for (int i = 1; i <= 5; i++) {
            out.onNext("hello " + name + " #" + i);
          }
          out.onCompleted();
        }))
        .build();
  }
}
