package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambientj.launcher.demo.Socks5Client;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Fairness inside the node proxy, as the workloads of a node see it: a workload over its budget
 * (set with pod annotations) has its new connections refused — with the metric and the
 * {@code OVER_BUDGET} access-log flag — while its neighbour on the same ztunnel goes on
 * connecting and relaying, and what the flooder already had keeps working.
 *
 * <p>Host mode, the example mesh on 127.217.x plus, on node-a, {@code flooder-0}
 * ({@code ambientj.dev/max-connections: 5}), {@code streamer-0} ({@code ambientj.dev/max-streams:
 * 3}), {@code stormer-0} ({@code ambientj.dev/max-connection-rate: 1}) and {@code neighbour-0}
 * (no annotation: the defaults). In host mode a source's HBONE connections do not come from its
 * pod's address, so node-b knows the streamer by its proven identity. Targets: a TCP echo outside the mesh (plain TCP from ztunnel) and
 * orders-0's TCP echo on node-b (HBONE into node-b's ztunnel).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class WorkloadFairnessTest {
  private static final String P = "127.217";
  private static final String ECHO = P + ".200.1";
  private static final String ORDERS = P + ".2.10";

  private Mesh mesh;
  private InetSocketAddress flooder;
  private InetSocketAddress stormer;
  private InetSocketAddress streamer;
  private InetSocketAddress neighbour;
  private final List<Socket> held = new ArrayList<>();

  @BeforeAll
  void startMesh() throws Exception {
    mesh = Mesh.fromYaml(TestMeshes.example(P)
        + TestMeshes.pod("flooder-0", "flooder", "node-a", P + ".1.40", 80,
            Map.of("ambientj.dev/max-connections", "5"))
        + TestMeshes.pod("streamer-0", "streamer", "node-a", P + ".1.43", 80,
            Map.of("ambientj.dev/max-streams", "3"))
        + TestMeshes.pod("stormer-0", "stormer", "node-a", P + ".1.41", 80,
            Map.of("ambientj.dev/max-connection-rate", "1"))
        + TestMeshes.pod("neighbour-0", "neighbour", "node-a", P + ".1.42", 80));
    mesh.node("node-a").ztunnel();
    mesh.node("node-b").ztunnel();
    mesh.workload("orders-0").tcpEcho(9000);
    mesh.own(TcpEchoServer.start(mesh.group(), mesh.transport(),
        new InetSocketAddress(ECHO, 7000)));
    flooder = mesh.workload("flooder-0").socks();
    stormer = mesh.workload("stormer-0").socks();
    streamer = mesh.workload("streamer-0").socks();
    neighbour = mesh.workload("neighbour-0").socks();
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
  void pastItsConnectionBudgetAWorkloadIsRefusedAndItsNeighbourIsNot() throws Exception {
    for (int i = 0; i < 5; i++) {
      held.add(Socks5Client.connect(flooder, ECHO, 7000, Mesh.TIMEOUT));
    }

    assertThatThrownBy(() -> Socks5Client.connect(flooder, ECHO, 7000, Mesh.TIMEOUT))
        .isInstanceOf(Socks5Client.Socks5Exception.class)
        .satisfies(e -> assertThat(((Socks5Client.Socks5Exception) e).reply())
            .as("general failure").isEqualTo(1));

    String line = mesh.node("node-a").awaitAccessLog(
        l -> l.contains("OVER_BUDGET") && l.contains("flooder-0"));
    assertThat(line).contains("holds its budget of 5 connections (ambientj.dev/max-connections)");
    assertThat(refused("node-a", "flooder-0", "connections")).isEqualTo(1);
    List<Socket> neighbours = new ArrayList<>();
    try {
      for (int i = 0; i < 12; i++) { // more than the flooder's budget: the budget is per workload
        Socket s = Socks5Client.connect(neighbour, ECHO, 7000, Mesh.TIMEOUT);
        neighbours.add(s);
        assertThat(echo(s, "neighbour " + i)).isTrue();
      }
    } finally {
      for (Socket s : neighbours) {
        s.close();
      }
    }
    assertThat(refused("node-a", "neighbour-0", "connections")).isZero();
    for (Socket s : held) { // what the flooder was admitted keeps working
      assertThat(echo(s, "admitted")).isTrue();
    }
    release();
    assertThat(eventuallyEchoes(flooder, "after the flood"))
        .as("the flooder connects again once its connections closed").isTrue();
  }

  @Test
  void aConnectionStormIsHeldToItsRateWhileTheNeighbourConnectsFreely() throws Exception {
    int refusedStorm = 0;
    for (int i = 0; i < 30; i++) {
      try (Socket s = Socks5Client.connect(stormer, ECHO, 7000, Mesh.TIMEOUT)) {
        assertThat(echo(s, "storm")).isTrue();
      } catch (Socks5Client.Socks5Exception e) {
        refusedStorm++;
      }
    }
    for (int i = 0; i < 30; i++) {
      try (Socket s = Socks5Client.connect(neighbour, ECHO, 7000, Mesh.TIMEOUT)) {
        assertThat(echo(s, "neighbour")).isTrue();
      }
    }

    assertThat(refusedStorm).as("storm connections refused at 1 a second").isPositive();
    assertThat(refused("node-a", "stormer-0", "connection_rate")).isEqualTo(refusedStorm);
    assertThat(refused("node-a", "neighbour-0", "connection_rate")).isZero();
    assertThat(mesh.node("node-a").awaitAccessLog(l -> l.contains("OVER_BUDGET")
        && l.contains("stormer-0"))).contains("faster than its budget of 1 a second");
  }

  @Test
  void theNodeItConnectsToHoldsARemoteSourceToItsStreamBudget() throws Exception {
    for (int i = 0; i < 3; i++) {
      Socket s = Socks5Client.connect(streamer, ORDERS, 9000, Mesh.TIMEOUT);
      held.add(s);
      assertThat(echo(s, "stream " + i)).isTrue();
    }

    assertThatThrownBy(() -> Socks5Client.connect(streamer, ORDERS, 9000, Mesh.TIMEOUT))
        .isInstanceOf(Socks5Client.Socks5Exception.class);

    String line = mesh.node("node-b").awaitAccessLog(
        l -> l.contains("OVER_BUDGET") && l.contains("streamer"));
    assertThat(line).contains("holds its budget of 3 HBONE streams on this node");
    assertThat(refused("node-b", "streamer-0", "streams")).isEqualTo(1);
    assertThat(mesh.node("node-a").awaitAccessLog(l -> l.contains(ORDERS + ":9000")
        && l.contains("streamer") && l.contains("429"))).as("the source side says why")
        .isNotEmpty();
    try (Socket s = Socks5Client.connect(neighbour, ORDERS, 9000, Mesh.TIMEOUT)) {
      assertThat(echo(s, "neighbour into node-b")).isTrue();
    }
    for (Socket s : held) {
      assertThat(echo(s, "admitted")).isTrue();
    }
  }

  private static boolean echo(Socket s, String text) throws IOException {
    s.setSoTimeout((int) Mesh.TIMEOUT.toMillis());
    s.getOutputStream().write(text.getBytes());
    return new String(s.getInputStream().readNBytes(text.length())).equals(text);
  }

  /** Whether a relay through {@code proxy} works within the test timeout (slots free on close). */
  private static boolean eventuallyEchoes(InetSocketAddress proxy, String text) throws Exception {
    long deadline = System.nanoTime() + Mesh.TIMEOUT.toNanos();
    while (System.nanoTime() < deadline) {
      try (Socket s = Socks5Client.connect(proxy, ECHO, 7000, Mesh.TIMEOUT)) {
        return echo(s, text);
      } catch (Socks5Client.Socks5Exception e) {
        Thread.sleep(50);
      }
    }
    return false;
  }

  private double refused(String node, String workload, String budget) throws Exception {
    Matcher m = Pattern.compile("(?m)^ambientj_fairness_refused_total\\{budget=\"" + budget
        + "\",workload=\"" + workload + "\",workload_namespace=\"production\"} (\\S+)$")
        .matcher(mesh.node(node).metrics());
    return m.find() ? Double.parseDouble(m.group(1)) : 0;
  }
}
