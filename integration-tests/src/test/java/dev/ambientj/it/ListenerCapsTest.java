package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambientj.hbone.transport.Descriptors;
import dev.ambientj.launcher.demo.Socks5Client;
import dev.ambientj.ztunnel.proxy.ProxyLimits;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * A workload listener's caps as a client sees them: past the cap a new connection is reset at
 * once and counted, per workload and listener, while another workload of the same ztunnel keeps
 * working; when connections close, the listener serves again. Host mode, the example mesh on
 * 127.215.x with inventory-0 added on node-a; node-a's listeners capped at 40 connections, 20 of
 * them in a handshake; node-b's whole proxy at one socket for pod traffic.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ListenerCapsTest {
  private static final String P = "127.215";
  private static final int MAX_CONNECTIONS = 40;
  private static final int MAX_HANDSHAKES = 20;
  private static final String ECHO = P + ".200.1";

  private Mesh mesh;
  private InetSocketAddress capped;
  private InetSocketAddress bystander;
  private final List<Socket> held = new ArrayList<>();

  @BeforeAll
  void startMesh() throws Exception {
    mesh = Mesh.fromYaml(TestMeshes.example(P)
        + TestMeshes.podWithService("inventory-0", "inventory", "node-a", P + ".1.20", 8080,
            P + ".10.60", 80));
    mesh.node("node-a").limits(ProxyLimits.derive(Descriptors.limit())
        .withListenerCaps(MAX_CONNECTIONS, MAX_HANDSHAKES)).ztunnel();
    mesh.node("node-b").limits(ProxyLimits.derive(Descriptors.limit()).withProxyCaps(1, 1))
        .ztunnel();
    mesh.own(TcpEchoServer.start(mesh.group(), mesh.transport(),
        new InetSocketAddress(ECHO, 7000)));
    capped = mesh.workload("api-gateway-0").socks();
    bystander = mesh.workload("inventory-0").socks();
  }

  @AfterEach
  void release() throws IOException {
    for (Socket s : held) {
      s.close();
    }
    held.clear();
  }

  @AfterAll
  void stopMesh() throws Exception {
    if (mesh != null) {
      mesh.close();
    }
  }

  @Test
  void pastTheHandshakeCapANewConnectionIsResetAndCounted() throws Exception {
    for (int i = 0; i < MAX_HANDSHAKES; i++) {
      held.add(idle(capped));
    }
    awaitListenerGauge("handshake", MAX_HANDSHAKES);
    double before = refused("handshakes");

    assertThat(refusedAtOnce(capped)).as("connection past the cap reset").isTrue();

    assertThat(refused("handshakes")).isEqualTo(before + 1);
    assertThat(echo(bystander, "bystander during")).isTrue();
    release();
    awaitListenerGauge("handshake", 0);
    assertThat(echo(capped, "after the idle clients left")).isTrue();
  }

  @Test
  void pastTheConnectionCapEvenRelayedConnectionsAreRefused() throws Exception {
    for (int i = 0; i < MAX_CONNECTIONS; i++) {
      Socket relayed = Socks5Client.connect(capped, ECHO, 7000, Mesh.TIMEOUT);
      held.add(relayed);
    }
    awaitListenerGauge("open", MAX_CONNECTIONS);
    double before = refused("connections");

    assertThat(refusedAtOnce(capped)).isTrue();

    assertThat(refused("connections")).isEqualTo(before + 1);
    assertThat(echo(bystander, "bystander during")).isTrue();
    for (Socket s : held) { // the relays admitted before the cap keep working
      s.getOutputStream().write('x');
      assertThat(s.getInputStream().read()).isEqualTo('x');
    }
  }

  @Test
  void anUpstreamPastTheProxyCapIsNotOpenedAndTheClientIsTold() throws Exception {
    InetSocketAddress orders = mesh.workload("orders-0").socks(); // on node-b

    assertThatThrownBy(() -> Socks5Client.connect(orders, ECHO, 7000, Mesh.TIMEOUT))
        .isInstanceOf(Socks5Client.Socks5Exception.class)
        .satisfies(e -> assertThat(((Socks5Client.Socks5Exception) e).reply())
            .as("general failure").isEqualTo(1));
    String line = mesh.node("node-b").awaitAccessLog(l -> l.contains(ECHO + ":7000"));
    assertThat(line).contains("its limit (--max-connections 1)");
    assertThat(mesh.node("node-b").metrics()).containsPattern(
        "(?m)^ambientj_connections_refused_total"
        + "\\{limit=\"connections\",listener=\"upstream\",scope=\"proxy\",[^}]*} 1.0$");
  }

  private static Socket idle(InetSocketAddress target) throws IOException {
    Socket s = new Socket();
    s.connect(target, 5_000);
    s.setSoTimeout(10_000);
    return s;
  }

  /**
   * Whether a new connection to {@code target} is ended by the server (reset or EOF) without the
   * client sending anything; the reset may even beat the connect's return.
   */
  private static boolean refusedAtOnce(InetSocketAddress target) throws IOException {
    Socket s;
    try {
      s = idle(target);
    } catch (SocketException e) { // "Connection reset by peer" while connecting
      return true;
    }
    try (s) {
      return s.getInputStream().read() == -1;
    } catch (SocketException e) { // "Connection reset"
      return true;
    }
  }

  private static boolean echo(InetSocketAddress proxy, String text) throws IOException {
    try (Socket s = Socks5Client.connect(proxy, ECHO, 7000, Mesh.TIMEOUT)) {
      s.getOutputStream().write(text.getBytes());
      return new String(s.getInputStream().readNBytes(text.length())).equals(text);
    }
  }

  private double refused(String limit) throws Exception {
    return metric("ambientj_connections_refused_total\\{limit=\"" + limit
        + "\",listener=\"socks5\",scope=\"listener\",workload=\"api-gateway-0\","
        + "workload_namespace=\"production\"}");
  }

  private void awaitListenerGauge(String state, int value) throws Exception {
    String series = "ambientj_listener_connections\\{listener=\"socks5\",state=\"" + state
        + "\",workload=\"api-gateway-0\",workload_namespace=\"production\"}";
    long deadline = System.nanoTime() + Mesh.TIMEOUT.toNanos();
    while (metric(series) != value && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(metric(series)).as(series).isEqualTo(value);
  }

  private double metric(String series) throws Exception {
    Matcher m = Pattern.compile("(?m)^" + series + " (\\S+)$")
        .matcher(mesh.node("node-a").metrics());
    return m.find() ? Double.parseDouble(m.group(1)) : 0;
  }
}
