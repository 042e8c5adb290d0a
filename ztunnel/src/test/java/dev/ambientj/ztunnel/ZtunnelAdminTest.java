package dev.ambientj.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.hbone.identity.LocalCertificateAuthority;
import dev.ambientj.config.model.Workload;
import dev.ambientj.hbone.transport.Transport;
import dev.ambientj.ztunnel.telemetry.AccessLogSink;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * ztunnel's admin port (15000) as an operator uses it: the index, {@code istio_build} on the
 * metrics port, and {@code POST /quitquitquit} draining an embedded ztunnel (readiness 503, the
 * workload's HBONE listener closed).
 */
class ZtunnelAdminTest {
  private static final String WORKLOAD_IP = "127.0.0.93";

  @Test
  void indexBuildInfoAndQuitquitquitDrain() throws Exception {
    Workload app = ExampleMesh.workload("admin-probe-0", "production", "admin-probe", "node-a",
        WORKLOAD_IP, true, null, "admin-probe", "v1");
    SnapshotPublisher config = new SnapshotPublisher();
    config.publish(ExampleMesh.snapshot(List.of(app), List.of()));
    try (Ztunnel zt = Ztunnel.builder().node("node-a").config(config)
            .identityProvider(LocalCertificateAuthority.create(ExampleMesh.TD)
                .asIdentityProvider(Duration.ofHours(1)))
            .transport(Transport.select(Transport.Kind.NIO))
            .adminAddress(InetAddress.getLoopbackAddress()).nodePorts(0, 0, 0)
            .drainDeadline(Duration.ofSeconds(1))
            .accessLog(AccessLogSink.discard()).build().start();
        HttpClient http = HttpClient.newHttpClient()) {
      assertThat(zt.awaitReady(Duration.ofSeconds(20))).isTrue();
      String admin = "http://" + host(zt.adminAddress());

      HttpResponse<String> index = get(http, admin + "/");
      assertThat(index.statusCode()).isEqualTo(200);
      assertThat(index.body()).startsWith("ambientj ztunnel admin, node node-a\n")
          .contains("  /config_dump ", "  /healthz/ready ", "  /logging ", "  /quitquitquit ");
      assertThat(get(http, admin + "/logging").body()).contains("  dev.ambientj.ztunnel: ");
      String metrics = get(http, "http://" + host(zt.metricsAddress()) + "/stats/prometheus").body();
      assertThat(metrics).containsPattern("istio_build\\{component=\"ztunnel\",tag=\"[^\"]+\"} 1.0")
          .contains("jvm_memory_used_bytes{", "process_uptime_seconds ", "process_files_open_files ",
              "workload_manager_active_proxy_count 0.0");
      assertThat(listening(WORKLOAD_IP, 15008)).isTrue();
      assertThat(http.send(HttpRequest.newBuilder(URI.create(admin + "/quitquitquit")).build(),
          HttpResponse.BodyHandlers.ofString()).statusCode()).as("GET").isEqualTo(405);

      HttpResponse<String> quit = http.send(HttpRequest.newBuilder(URI.create(admin
          + "/quitquitquit")).POST(HttpRequest.BodyPublishers.noBody()).build(),
          HttpResponse.BodyHandlers.ofString());

      assertThat(quit.statusCode()).isEqualTo(200);
      assertThat(quit.body()).isEqualTo("OK\n");
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (listening(WORKLOAD_IP, 15008) && System.nanoTime() < deadline) {
        Thread.sleep(50);
      }
      assertThat(listening(WORKLOAD_IP, 15008)).as("the HBONE listener is closed").isFalse();
      assertThat(zt.ready()).isFalse();
    }
  }

  private static HttpResponse<String> get(HttpClient http, String uri) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(uri)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static String host(InetSocketAddress a) {
    return a.getAddress().getHostAddress() + ":" + a.getPort();
  }

  private static boolean listening(String ip, int port) {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(ip, port), 1000);
      return true;
    } catch (IOException e) {
      return false;
    }
  }
}
