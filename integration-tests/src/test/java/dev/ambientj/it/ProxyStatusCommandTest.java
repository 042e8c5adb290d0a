package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.server.ConfigServerCommand;
import dev.ambientj.config.xds.ProxyNode;
import dev.ambientj.config.xds.TypeUrls;
import dev.ambientj.config.xds.XdsConfigSource;
import dev.ambientj.config.xds.XdsDecodeException;
import dev.ambientj.launcher.inspect.ProxyStatusCommand;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code mesh proxy-status} against a real config server ({@code mesh config-server --config}'s
 * wiring) with the proxies' own xDS loaders connected: two ztunnels and the payment waypoint
 * SYNCED at the server's version, and a proxy that refuses a push shown as NACK with its reason.
 */
class ProxyStatusCommandTest {
  private static final String P = "127.94";

  record Run(int exit, String out, String err) {
    List<String> lines() {
      return out.lines().toList();
    }
  }

  static Run proxyStatus(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int exit = ProxyStatusCommand.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
    return new Run(exit, out.toString(), err.toString());
  }

  @Test
  void connectedProxiesAreSyncedAndARefusalIsANack(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("mesh.yaml");
    Files.writeString(file, TestMeshes.relocate(TestMeshes.exampleFile("mesh.yaml") + "\n---\n"
        + TestMeshes.exampleFile("payment-policies.yaml"), P));
    try (ConfigServerCommand.Running server = ConfigServerCommand.start(new String[] {"--config",
        file.toString(), "--state-dir", dir.resolve("state").toString(), "--listen", "127.0.0.1:0"},
        new PrintStream(new ByteArrayOutputStream(), true))) {
      InetSocketAddress xds = server.server().address();
      String xdsFlag = "--xds=127.0.0.1:" + xds.getPort();
      try (XdsConfigSource a = XdsConfigSource.builder(xds,
              ProxyNode.node("ztunnel", P + ".100.1", "ztunnel-a", "istio-system", "node-a"),
              new SnapshotPublisher()).start();
          XdsConfigSource b = XdsConfigSource.builder(xds,
              ProxyNode.node("ztunnel", P + ".100.2", "ztunnel-b", "istio-system", "node-b"),
              new SnapshotPublisher()).start();
          XdsConfigSource w = XdsConfigSource.builder(xds,
              ProxyNode.node("waypoint", P + ".1.30", "payment-waypoint-0", "production", "node-a"),
              new SnapshotPublisher()).start()) {
        for (XdsConfigSource s : List.of(a, b, w)) {
          s.ready().get(30, TimeUnit.SECONDS);
        }
        Run synced = eventually(xdsFlag, r -> r.lines().stream().filter(l -> l.contains(" SYNCED ")).count() == 3);
        System.out.print(synced.out());
        assertThat(synced.exit()).as(synced.err()).isZero();
        assertThat(synced.lines().get(0)).matches("NAME +KIND +NODE +STATUS +VERSION");
        assertThat(synced.lines()).hasSize(4)
            .anyMatch(l -> l.matches("ztunnel-a\\.istio-system +ztunnel +node-a +SYNCED +\\S+"))
            .anyMatch(l -> l.matches("ztunnel-b\\.istio-system +ztunnel +node-b +SYNCED +\\S+"))
            .anyMatch(l -> l.matches("payment-waypoint-0\\.production +waypoint +node-a +SYNCED +\\S+"));

        // A proxy that cannot apply what it is sent NACKs it: shown with the reason it gave.
        try (XdsConfigSource refusing = XdsConfigSource.builder(xds,
                ProxyNode.node("ztunnel", P + ".100.3", "ztunnel-c", "istio-system", "node-c"),
                new SnapshotPublisher())
            .validator(s -> {
              throw new XdsDecodeException(TypeUrls.ADDRESS, "production/orders-0",
                  "this proxy cannot serve a workload it has no certificate for");
            }).start()) {
          Run nack = eventually(xdsFlag, r -> r.out().contains(" NACK "));
          System.out.print(nack.out());
          assertThat(nack.lines().get(0)).matches("NAME +KIND +NODE +STATUS +VERSION +NACK REASON");
          assertThat(nack.lines()).anyMatch(l -> l.matches("ztunnel-c\\.istio-system +ztunnel +node-c +NACK +\\S+ +.*"
              + "production/orders-0: this proxy cannot serve a workload it has no certificate for.*"));
          assertThat(nack.lines()).filteredOn(l -> l.contains(" SYNCED ")).hasSize(3);
        }
      }
      Run none = eventually(xdsFlag, r -> r.err().contains("No proxies are connected"));
      assertThat(none.exit()).isZero();
    }
    Run down = proxyStatus("--xds", "127.0.0.1:1", "--timeout", "5s");
    assertThat(down.exit()).isEqualTo(1);
    assertThat(down.err()).contains("cannot ask the config server at 127.0.0.1:1").contains("--xds");
    assertThat(proxyStatus("--xsd", "x").exit()).isEqualTo(2);
    assertThat(proxyStatus("--help").exit()).isZero();
  }

  private static Run eventually(String xdsFlag, java.util.function.Predicate<Run> done)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    Run r;
    while (!done.test(r = proxyStatus(xdsFlag)) && System.nanoTime() < deadline) {
      Thread.sleep(200);
    }
    assertThat(done.test(r)).as("proxy-status printed:\n%s%s", r.out(), r.err()).isTrue();
    return r;
  }
}
