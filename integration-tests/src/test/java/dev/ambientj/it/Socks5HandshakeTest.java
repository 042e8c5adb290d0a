package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambientj.hbone.transport.Descriptors;
import dev.ambientj.launcher.demo.Socks5Client;
import dev.ambientj.ztunnel.proxy.ProxyLimits;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * What a SOCKS5 client sees of ztunnel's handshake rules, on real sockets (and curl): a client that
 * stalls or half-closes before its request is closed and counted; each malformed request gets its
 * RFC 1928 reply before the close; an upstream that never answers is reported at the connect
 * deadline. Host mode, the example mesh on 127.216.x; node-b's ztunnel is not started: in its place
 * orders-0's HBONE port is a server that accepts and never speaks.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class Socks5HandshakeTest {
  private static final String P = "127.216";
  private static final Duration HANDSHAKE_TIMEOUT = Duration.ofSeconds(3);
  private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(3);

  private Mesh mesh;
  private InetSocketAddress socks;
  private ServerSocket silentHbone;
  private final List<Socket> silentlyAccepted = new java.util.concurrent.CopyOnWriteArrayList<>();

  @BeforeAll
  void startMesh() throws Exception {
    mesh = Mesh.fromYaml(TestMeshes.example(P));
    mesh.node("node-a").limits(ProxyLimits.derive(Descriptors.limit())
        .withSocks5HandshakeTimeout(HANDSHAKE_TIMEOUT).withConnectTimeout(CONNECT_TIMEOUT))
        .ztunnel();
    socks = mesh.workload("api-gateway-0").socks();
    silentHbone = new ServerSocket();
    silentHbone.bind(new InetSocketAddress(P + ".2.10", 15008));
    Thread.ofVirtual().start(() -> {
      while (!silentHbone.isClosed()) {
        try {
          silentlyAccepted.add(silentHbone.accept());
        } catch (IOException e) {
          return;
        }
      }
    });
  }

  @AfterAll
  void stopMesh() throws Exception {
    if (silentHbone != null) {
      silentHbone.close();
    }
    for (Socket s : silentlyAccepted) {
      s.close();
    }
    if (mesh != null) {
      mesh.close();
    }
  }

  @Test
  void aClientThatSendsOneByteAndWaitsIsClosedAtTheDeadline() throws Exception {
    double before = rejected("timeout");
    try (Socket s = new Socket()) {
      s.connect(socks, 5_000);
      s.setSoTimeout((int) Duration.ofSeconds(30).toMillis());
      s.getOutputStream().write(5);
      assertThat(s.getInputStream().read()).as("EOF at the handshake deadline").isEqualTo(-1);
    }
    assertThat(rejected("timeout")).isEqualTo(before + 1);
  }

  @Test
  void aClientThatHalfClosesBeforeItsRequestIsClosedAtOnce() throws Exception {
    double before = rejected("half_closed");
    try (Socket s = new Socket()) {
      s.connect(socks, 5_000);
      s.setSoTimeout((int) Duration.ofSeconds(30).toMillis());
      s.getOutputStream().write(new byte[] {5, 1, 0});
      InputStream in = s.getInputStream();
      assertThat(new int[] {in.read(), in.read()}).containsExactly(5, 0);
      s.shutdownOutput();
      assertThat(in.read()).isEqualTo(-1);
    }
    assertThat(rejected("half_closed")).as("closed for the half-close, not the deadline")
        .isEqualTo(before + 1);
  }

  @Test
  void aGreetingWithoutMethodsGetsNoAcceptableMethods() throws Exception {
    assertThat(exchange(new byte[] {5, 0})).containsExactly(5, 0xFF);
    assertThat(rejected("no_methods")).isPositive();
  }

  @Test
  void anUnknownAddressTypeGetsAddressTypeNotSupported() throws Exception {
    int[] reply = exchange(new byte[] {5, 1, 0}, new byte[] {5, 1, 0, 7, 1, 2, 3, 4, 0, 80});
    assertThat(reply[0]).isEqualTo(5);
    assertThat(reply[1]).as("greeting accepted").isZero();
    assertThat(reply[2]).isEqualTo(5);
    assertThat(reply[3]).as("REP").isEqualTo(0x08);
    assertThat(rejected("address_type")).isPositive();
  }

  @Test
  void udpAssociateGetsCommandNotSupported() throws Exception {
    int[] reply = exchange(new byte[] {5, 1, 0}, new byte[] {5, 3, 0, 1, 127, 0, 0, 1, 0, 53});
    assertThat(reply[3]).as("REP").isEqualTo(0x07);
    assertThat(rejected("command")).isPositive();
  }

  @Test
  void curlSpeakingSocks4IsToldTheRequestWasRejected() throws Exception {
    Process curl = new ProcessBuilder("curl", "-sS", "--max-time", "20", "--socks4",
        P + ".1.10:15080", "http://" + P + ".2.10:8080/").redirectErrorStream(true).start();
    String output = new String(curl.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(curl.waitFor(30, TimeUnit.SECONDS)).isTrue();
    System.out.println("curl --socks4: exit " + curl.exitValue() + ": " + output.strip());
    assertThat(curl.exitValue()).as("curl's proxy handshake error").isEqualTo(97);
    assertThat(output).contains("91").containsIgnoringCase("rejected");
    assertThat(rejected("socks4")).isPositive();
  }

  @Test
  void anHboneUpstreamThatNeverAnswersIsReportedAtTheConnectDeadline() throws Exception {
    assertThatThrownBy(() -> Socks5Client.connect(socks, "orders.production.svc.cluster.local",
        80, Duration.ofSeconds(30)))
        .isInstanceOf(Socks5Client.Socks5Exception.class)
        .satisfies(e -> assertThat(((Socks5Client.Socks5Exception) e).reply())
            .as("host unreachable").isEqualTo(4));
    String line = mesh.node("node-a").awaitAccessLog(l -> l.contains("timed out after "
        + CONNECT_TIMEOUT.toMillis() + " ms"));
    assertThat(line).contains("\"dst.addr\":\"" + P + ".2.10:15008\"")
        .contains("\"response_flags\":\"CONNECT\"");
  }

  @Test
  void aClientThatLeavesWhileItsUpstreamConnectsCancelsTheConnect() throws Exception {
    try (Socket s = new Socket()) {
      s.connect(socks, 5_000);
      s.setSoTimeout(10_000);
      byte[] host = "orders".getBytes(StandardCharsets.US_ASCII);
      s.getOutputStream().write(new byte[] {5, 1, 0});
      assertThat(s.getInputStream().readNBytes(2)).containsExactly(5, 0);
      java.io.ByteArrayOutputStream request = new java.io.ByteArrayOutputStream();
      request.write(new byte[] {5, 1, 0, 3, (byte) host.length});
      request.write(host);
      request.write(new byte[] {0, 80});
      s.getOutputStream().write(request.toByteArray());
      s.setSoLinger(true, 0); // leave with a reset
    }
    String line = mesh.node("node-a").awaitAccessLog(
        l -> l.contains("client closed the connection before the upstream"));
    assertThat(line).contains("\"dst.addr\":\"" + P + ".2.10:15008\"");
  }

  /** Sends {@code greeting} (then {@code request} after the method reply); returns all replies. */
  private int[] exchange(byte[] greeting, byte[]... request) throws IOException {
    try (Socket s = new Socket()) {
      s.connect(socks, 5_000);
      s.setSoTimeout(10_000);
      s.getOutputStream().write(greeting);
      InputStream in = s.getInputStream();
      List<Integer> bytes = new ArrayList<>();
      bytes.add(in.read());
      bytes.add(in.read());
      if (request.length > 0) {
        s.getOutputStream().write(request[0]);
      }
      for (int b = in.read(); b >= 0; b = in.read()) {
        bytes.add(b);
      }
      // the server closes after the reply: reading ended with EOF
      return bytes.stream().mapToInt(Integer::intValue).toArray();
    }
  }

  private double rejected(String reason) throws Exception {
    Matcher m = Pattern.compile("(?m)^ambientj_socks5_rejected_total\\{reason=\"" + reason
        + "\"} (\\S+)$").matcher(mesh.node("node-a").metrics());
    return m.find() ? Double.parseDouble(m.group(1)) : 0;
  }
}
