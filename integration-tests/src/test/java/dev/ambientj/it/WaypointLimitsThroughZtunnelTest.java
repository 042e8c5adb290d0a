package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.launcher.demo.Socks5Client;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 15, item 9 and the waypoint's deadlines, as a client in the mesh sees them: through
 * SOCKS5, node-a's ztunnel and HBONE to the waypoint ({@code ./mesh waypoint} as its own process,
 * so its access log is what it prints), then node-b's ztunnel and the backends.
 *
 * <ul>
 *   <li>curl with HTTP/2 prior knowledge and a 62.5 KB header gets 431, once — no retries — and
 *       the access log has it (curl does not send a header block over 64 KiB at all: nghttp2's
 *       send limit; it reports that as REFUSED_STREAM and retries five times, whatever the
 *       server);
 *   <li>the same over HTTP/1.1;
 *   <li>a client that trickles its request headers gets 408 at the request headers timeout and its
 *       connection ends; the metric counts it.
 * </ul>
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class WaypointLimitsThroughZtunnelTest {
  private static final String P = "127.152";
  private static final String PAYMENT = "payment-service.production.svc.cluster.local";

  @TempDir
  static Path dir;
  private Mesh mesh;
  private WaypointProcess waypoint;
  private InetSocketAddress socks;

  @BeforeAll
  void startMesh() throws Exception {
    String yaml = TestMeshes.example(P);
    mesh = WaypointProcess.twoNodeMesh(yaml, dir);
    BulkHttpBackend.start(mesh, "payment-v1-0", 8080);
    BulkHttpBackend.start(mesh, "payment-v2-0", 8080);
    waypoint = mesh.own(WaypointProcess.start(dir.resolve("mesh.yaml"), dir, "production", "payment-waypoint",
        P + ".1.30", List.of("--request-headers-timeout", "2s")));
    socks = mesh.workload("api-gateway-0").socks();
    WaypointProcess.awaitServing(socks, PAYMENT);
  }

  @AfterAll
  void stopMesh() throws Exception {
    if (mesh != null) {
      mesh.close(); // the waypoint process too
    }
  }

  @Test
  void curlWithAnOversizedHeaderOverHttp2Gets431Once() throws Exception {
    Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/curl")), "curl is not installed");
    Path header = dir.resolve("big-header.txt");
    // over the waypoint's 60 KiB, under the 64 KiB that curl's HTTP/2 library sends at most: a
    // larger header block it refuses itself (REFUSED_STREAM, five retries) without sending it
    Files.writeString(header, "x-big: " + randomText(new Random(9), 62_500) + "\n");
    Process curl = new ProcessBuilder("curl", "-sS", "-m", "30", "--http2-prior-knowledge",
        "--socks5-hostname", socks.getHostString() + ":" + socks.getPort(), "-H", "@" + header,
        "-o", "/dev/null", "-w", "\nSTATUS %{http_code} %{http_version}\n", "http://" + PAYMENT + "/h2-big")
        .redirectErrorStream(true).start();
    String out = new String(curl.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(curl.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(out).as(tail(out)).contains("STATUS 431 2").doesNotContain("REFUSED_STREAM");
    assertThat(awaitAccessLog("/h2-big")).as("one access-log line, one request").hasSize(1)
        .allMatch(l -> l.contains("\"response_code\":431") && l.contains("\"protocol\":\"HTTP/2\""));
  }

  @Test
  void oversizedHeaderOverHttp1Gets431() throws Exception {
    try (Socket s = Socks5Client.connect(socks, PAYMENT, 80, Mesh.TIMEOUT)) {
      s.setSoTimeout((int) Mesh.TIMEOUT.toMillis());
      s.getOutputStream().write(("GET /h1-big HTTP/1.1\r\nHost: " + PAYMENT + "\r\nx-big: " + "a".repeat(70 * 1024)
          + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      BulkHttpBackend.Read r = BulkHttpBackend.readResponse(s.getInputStream());
      assertThat(r.status()).isEqualTo(431);
    }
    assertThat(awaitAccessLog("/h1-big")).hasSize(1).allMatch(l -> l.contains("\"response_code\":431"));
  }

  @Test
  void slowHeadersGet408AtTheDeadlineAndAreCounted() throws Exception {
    double before = metric("envoy_http_downstream_rq_header_timeout_total");
    try (Socket s = Socks5Client.connect(socks, PAYMENT, 80, Mesh.TIMEOUT)) {
      s.setSoTimeout(200);
      OutputStream out = s.getOutputStream();
      InputStream in = s.getInputStream();
      out.write(("GET /slowloris HTTP/1.1\r\nHost: " + PAYMENT + "\r\n").getBytes(StandardCharsets.US_ASCII));
      ByteArrayOutputStream got = new ByteArrayOutputStream();
      long start = System.nanoTime();
      boolean ended = false;
      for (int i = 0; i < 100 && !ended; i++) { // one header line every 200 ms, for up to 20 s
        try {
          out.write(("x-slow-" + i + ": 1\r\n").getBytes(StandardCharsets.US_ASCII));
        } catch (java.io.IOException e) {
          ended = true; // reset: the waypoint closed the connection
          break;
        }
        try {
          byte[] buf = new byte[4096];
          int n = in.read(buf);
          if (n < 0) {
            ended = true;
          } else {
            got.write(buf, 0, n);
          }
        } catch (SocketTimeoutException e) {
          // nothing yet
        } catch (java.io.IOException e) {
          ended = true;
        }
      }
      long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
      assertThat(got.toString(StandardCharsets.US_ASCII)).startsWith("HTTP/1.1 408 ");
      assertThat(ended).as("the connection ended").isTrue();
      assertThat(millis).as("ended at the deadline (2 s), not when the client gave up (20 s)").isLessThan(15_000);
    }
    assertThat(metric("envoy_http_downstream_rq_header_timeout_total") - before).isEqualTo(1.0);
    assertThat(waypoint.accessLog()).anyMatch(l -> l.contains("\"response_code\":408")
        && l.contains("request_header_timeout"));
  }

  /** Access-log lines of {@code path}, once at least one is there (10 s at most). */
  private List<String> awaitAccessLog(String path) throws Exception {
    long deadline = System.nanoTime() + Mesh.TIMEOUT.toNanos();
    List<String> lines = List.of();
    while (lines.isEmpty() && System.nanoTime() < deadline) {
      lines = waypoint.accessLog().stream().filter(l -> l.contains("\"path\":\"" + path + "\"")).toList();
      TimeUnit.MILLISECONDS.sleep(100);
    }
    TimeUnit.MILLISECONDS.sleep(500); // a retry would come within this
    return waypoint.accessLog().stream().filter(l -> l.contains("\"path\":\"" + path + "\"")).toList();
  }

  private double metric(String name) throws Exception {
    Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name) + "(\\{[^}]*})? ([0-9.eE+-]+)$").matcher(waypoint.metrics());
    return m.find() ? Double.parseDouble(m.group(2)) : 0;
  }

  private static String randomText(Random random, int length) {
    String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    StringBuilder b = new StringBuilder(length);
    for (int i = 0; i < length; i++) {
      b.append(alphabet.charAt(random.nextInt(alphabet.length())));
    }
    return b.toString();
  }

  private static String tail(String s) {
    return s.length() > 4000 ? s.substring(s.length() - 4000) : s;
  }
}
