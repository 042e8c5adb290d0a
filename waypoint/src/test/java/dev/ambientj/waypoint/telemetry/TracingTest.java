package dev.ambientj.waypoint.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.opentelemetry.api.trace.Span;
import java.net.ServerSocket;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Export failures are counted and logged, never thrown at a request. */
class TracingTest {
  @Test
  void aCollectorThatIsDownIsCountedNotThrown() throws Exception {
    int closedPort;
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      closedPort = s.getLocalPort();
    }
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    Tracing tracing = Tracing.create(TracingSettings.defaults()
        .withZipkin("http://127.0.0.1:" + closedPort + "/api/v2/spans")
        .withScheduleDelay(Duration.ofMillis(50)), "payment-waypoint.production", registry);
    RequestLog r = new RequestLog();
    r.responseCode = 200;
    for (int i = 0; i < 3; i++) {
      Span server = tracing.startServer(new DefaultHttpHeaders(), 100);
      Span client = tracing.startClient(server, "outbound|80||payment");
      tracing.endClient(client, "GET", "http://127.0.0.1:8080/", "outbound|80||payment", "127.0.0.1:8080", null,
          0, "upstream connect failure");
      tracing.endServer(server, r, "payment:80/*");
    }
    tracing.close(); // sends what is queued: to nobody
    String scrape = registry.scrape();
    assertThat(scrape).containsPattern("envoy_tracing_zipkin_reports_failed_total(\\{[^}]*\\})? [1-9]");
    assertThat(scrape).containsPattern("envoy_tracing_zipkin_spans_sent_total(\\{[^}]*\\})? 0\\.0");
  }
}
