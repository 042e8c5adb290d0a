package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.hbone.HboneServerConfig;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.hbone.identity.WorkloadCertificate;
import dev.ambientj.launcher.demo.Socks5Client;
import dev.ambientj.testing.RawHttp2Connection;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 15 items 4, 6 and 7 through two real ztunnels: a peer that opens and resets CONNECTs as
 * fast as it can, readers that stop, readers that are slow. api-gateway-0 (node-a) reaches
 * orders-0 (node-b) through SOCKS5; inventory-0 (node-a) is a second client workload.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(180)
class HboneAbuseThroughZtunnelTest {
  private static final String P = "127.87";
  private static final String ORDERS = P + ".2.10";
  private static final int ECHO_PORT = 9000;
  private static final int ENDLESS_PORT = 9200;
  private static final int COUNTED_PORT = 9300;
  private static final int SIZED_PORT = 9400;
  private static final long SIZED_BYTES = 4L << 20;

  private Mesh mesh;
  private BulkServer endless;
  private BulkServer counted;
  private BulkServer sized;

  @BeforeAll
  void startMesh() throws Exception {
    mesh = Mesh.fromYaml(TestMeshes.example(P)
        + TestMeshes.podWithService("inventory-0", "inventory", "node-a", P + ".1.20", 8080, P + ".10.60", 80));
    mesh.node("node-a").ztunnel();
    mesh.node("node-b").ztunnel();
    mesh.workload("orders-0").tcpEcho(ECHO_PORT);
    InetSocketAddress orders = new InetSocketAddress(ORDERS, 0);
    endless = mesh.own(BulkServer.start(mesh.group(), mesh.transport(), at(orders, ENDLESS_PORT), -1));
    counted = mesh.own(BulkServer.start(mesh.group(), mesh.transport(), at(orders, COUNTED_PORT), 1));
    sized = mesh.own(BulkServer.start(mesh.group(), mesh.transport(), at(orders, SIZED_PORT), SIZED_BYTES));
  }

  private static InetSocketAddress at(InetSocketAddress a, int port) {
    return new InetSocketAddress(a.getAddress(), port);
  }

  @AfterAll
  void stopMesh() throws Exception {
    mesh.close();
  }

  /**
   * Item 4: 5,000 CONNECT+RST_STREAM on one HBONE connection with a valid mesh certificate. Before:
   * 5,000 connections at the backend and no GOAWAY. Now at most the reset limit (200) reach it and
   * the attacker gets GOAWAY ENHANCE_YOUR_CALM, while another workload's connections through the
   * same ztunnel keep working.
   */
  @Test
  void rapidResetGetsGoAwayAndOpensAtMostTheLimitOfUpstreamConnections() throws Exception {
    WorkloadCertificate cert = mesh.ca().issue(
        SpiffeId.parse("spiffe://cluster.local/ns/production/sa/api-gateway"), Duration.ofHours(1));
    AtomicBoolean attacking = new AtomicBoolean(true);
    AtomicInteger echoed = new AtomicInteger();
    List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
    InetSocketAddress victimSocks = mesh.workload("inventory-0").socks();
    int sent = 0;
    try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
      Future<?> victim = pool.submit(() -> {
        for (int i = 0; attacking.get() || i < 3; i++) {
          try {
            byte[] msg = ("request " + i).getBytes(StandardCharsets.UTF_8);
            assertThat(echo(victimSocks, msg)).isEqualTo(msg);
            echoed.incrementAndGet();
          } catch (Throwable e) {
            failures.add(e.toString());
          }
        }
        return null;
      });
      try (RawHttp2Connection attacker = RawHttp2Connection.open(mesh.group(), mesh.transport().socketChannelClass(),
          cert.privateKey(), cert.chain(), new InetSocketAddress(ORDERS, 15008))) {
        while (sent < 5000 && !attacker.goAway.isDone() && attacker.channel.isActive()) {
          sent += attacker.connects(ORDERS + ":" + COUNTED_PORT, 100, true);
          TimeUnit.MILLISECONDS.sleep(1);
        }
        assertThat(attacker.goAway.get(10, TimeUnit.SECONDS)).startsWith("ENHANCE_YOUR_CALM");
        assertThat(attacker.channel.closeFuture().await(10, TimeUnit.SECONDS)).as("attacker disconnected").isTrue();
      } finally {
        attacking.set(false);
        victim.get(60, TimeUnit.SECONDS);
      }
    }
    int limit = HboneServerConfig.defaults().prematureResetLimit();
    System.out.printf("rapid reset: %d CONNECT+RST_STREAM sent, %d connections at the backend, "
        + "%d echoes of the other workload meanwhile%n", sent, counted.accepted.get(), echoed.get());
    assertThat(counted.accepted.get()).as("upstream connections opened for the attacker").isLessThanOrEqualTo(limit);
    assertThat(failures).as("the other workload's requests").isEmpty();
    assertThat(echoed.get()).isPositive();
    assertThat(mesh.node("node-b").metrics())
        .contains("ambientj_hbone_server_events_total{event=\"rapid_reset\"}");
  }

  /**
   * Item 7: 40 connections whose readers stop, on one source→destination pair. Before, they held
   * the HBONE connection's window and a 41st connection on the pair never got its echo; now each
   * holds only its own stream window.
   */
  @Test
  void fortyStalledReadersDoNotStallTheFortyFirst() throws Exception {
    InetSocketAddress socks = mesh.workload("api-gateway-0").socks();
    List<Socket> stalled = new ArrayList<>();
    try {
      for (int i = 0; i < 40; i++) {
        stalled.add(Socks5Client.connect(socks, ORDERS, ENDLESS_PORT, Mesh.TIMEOUT, 4096));
      }
      awaitNoProgress(); // every reader's socket, ztunnel and window is full: the backend writes no more
      byte[] msg = "still there?".getBytes(StandardCharsets.UTF_8);
      long t0 = System.nanoTime();
      assertThat(echo(socks, msg)).isEqualTo(msg);
      long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
      System.out.printf("41st connection echoed in %d ms with 40 stalled readers%n", millis);
      assertThat(millis).as("echo latency of the 41st connection (generous bound)").isLessThan(5_000);
    } finally {
      for (Socket s : stalled) {
        s.close();
      }
    }
  }

  /**
   * Item 6: 40 concurrent streams of 4 MiB, read slowly with 4 KiB receive buffers (the issue's
   * shape at 100 MB; the manual figure is in the issue's report). Every stream delivers every
   * byte, checksummed, or fails with an error — never a clean end short of the data.
   */
  @Test
  void fortySlowReadersGetEveryByteOrAnError() throws Exception {
    InetSocketAddress socks = mesh.workload("api-gateway-0").socks();
    CRC32 expected = new CRC32();
    for (long i = 0; i < SIZED_BYTES; i++) {
      expected.update(BulkServer.pattern(i));
    }
    List<Future<String>> results = new ArrayList<>();
    try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
      for (int i = 0; i < 40; i++) {
        results.add(pool.submit(() -> {
          try (Socket s = Socks5Client.connect(socks, ORDERS, SIZED_PORT, Mesh.TIMEOUT, 4096)) {
            s.setSoTimeout(60_000);
            InputStream in = s.getInputStream();
            CRC32 crc = new CRC32();
            byte[] buf = new byte[16 << 10];
            long total = 0;
            for (int n; (n = in.read(buf)) > 0; ) {
              crc.update(buf, 0, n);
              total += n;
              TimeUnit.MICROSECONDS.sleep(500);
            }
            return total == SIZED_BYTES && crc.getValue() == expected.getValue() ? "complete"
                : "clean EOF after " + total + " bytes" + (total == SIZED_BYTES ? " (checksum mismatch)" : "");
          } catch (IOException e) {
            return "error: " + e;
          }
        }));
      }
    }
    List<String> outcomes = new ArrayList<>();
    for (Future<String> f : results) {
      outcomes.add(f.get());
    }
    assertThat(outcomes).as("no stream may end cleanly short of its data").noneMatch(o -> o.startsWith("clean EOF"));
    assertThat(outcomes).as("and with nothing killing them, all complete").containsOnly("complete");
  }

  /** Sends {@code msg} through SOCKS5 to the orders echo and reads it back. */
  private static byte[] echo(InetSocketAddress socks, byte[] msg) throws IOException {
    try (Socket s = Socks5Client.connect(socks, ORDERS, ECHO_PORT, Mesh.TIMEOUT)) {
      s.setSoTimeout((int) Mesh.TIMEOUT.toMillis());
      s.getOutputStream().write(msg);
      s.shutdownOutput();
      return s.getInputStream().readAllBytes();
    }
  }

  /** Waits until the endless server's byte count stops growing (its readers are stalled). */
  private void awaitNoProgress() throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    long last = -1;
    while (System.nanoTime() < deadline) {
      long now = endless.written.get();
      if (now == last && now > 0) {
        return;
      }
      last = now;
      TimeUnit.MILLISECONDS.sleep(500);
    }
    throw new AssertionError("the endless server kept writing for 30 s: readers not stalled?");
  }
}
