package dev.ambientj.waypoint.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.ConfigRejectionMetrics;
import dev.ambientj.config.ConfigRejections;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.model.ConfigRejection;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.PolicyObjects;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The waypoint's metrics port answers with its rejections: the metrics and /config_dump. */
class MetricsServerTest {
  @Test
  @SuppressWarnings("try")
  void servesTheRejectionsInForceAsMetricsAndAsAConfigDump() throws Exception {
    var group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    SnapshotPublisher publisher = new SnapshotPublisher();
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    try (AutoCloseable bound = ConfigRejectionMetrics.bind(registry, publisher);
        MetricsServer server = MetricsServer.start(new InetSocketAddress("127.0.0.1", 0), group,
            NioServerSocketChannel.class, registry,
            () -> ConfigRejections.json(publisher.snapshot()));
        HttpClient http = HttpClient.newHttpClient()) {
      publisher.publish(MeshSnapshot.of(1, "cluster.local", List.of(), List.of(), List.of(),
          List.of(), PolicyObjects.empty(), List.of(new ConfigRejection("VirtualService",
              "production", "payment-service", "spec.http[0].route[0].weight",
              "-5 (expected 0..100)").keepingPrevious())));
      String base = "http://127.0.0.1:" + server.address().getPort();
      HttpResponse<String> dump = http.send(HttpRequest.newBuilder(URI.create(base
          + "/config_dump")).build(), HttpResponse.BodyHandlers.ofString());
      assertThat(dump.statusCode()).isEqualTo(200);
      assertThat(dump.body()).contains("\"message\" : \"VirtualService production/payment-service:"
          + " spec.http[0].route[0].weight: -5 (expected 0..100) (rejected; keeping the version in"
          + " force)\"");
      String metrics = http.send(HttpRequest.newBuilder(URI.create(base + "/stats/prometheus"))
          .build(), HttpResponse.BodyHandlers.ofString()).body();
      assertThat(metrics).contains("ambientj_config_rejections{kind=\"VirtualService\"} 1.0")
          .contains("ambientj_config_rejected_total{kind=\"VirtualService\"} 1.0");
    } finally {
      group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
    }
  }
}
