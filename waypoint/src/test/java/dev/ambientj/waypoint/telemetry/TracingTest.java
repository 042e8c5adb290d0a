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
  /**
   * OTLP/HTTP to a collector's {@code /v1/traces}: here an HTTP server on loopback that records what
   * it is sent (no OTLP collector is at hand; the trace id is found in the protobuf bytes, where
   * OTLP carries it raw).
   */
  @Test
  void otlpSendsTheSpansToTheCollectorsTraceEndpoint() throws Exception {
    java.util.concurrent.BlockingQueue<byte[]> bodies = new java.util.concurrent.LinkedBlockingQueue<>();
    java.util.concurrent.BlockingQueue<String> contentTypes = new java.util.concurrent.LinkedBlockingQueue<>();
    com.sun.net.httpserver.HttpServer collector = com.sun.net.httpserver.HttpServer.create(
        new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0), 0);
    collector.createContext("/v1/traces", exchange -> {
      contentTypes.add(String.valueOf(exchange.getRequestHeaders().getFirst("Content-Type")));
      bodies.add(exchange.getRequestBody().readAllBytes());
      exchange.sendResponseHeaders(200, -1);
      exchange.close();
    });
    collector.start();
    try {
      PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
      TracingSettings settings = TracingSettings.fromEnvironment(java.util.Map.of(
          TracingSettings.OTLP_ENV, "http://127.0.0.1:" + collector.getAddress().getPort() + "/v1/traces",
          TracingSettings.DELAY_ENV, "50"));
      Tracing tracing = Tracing.create(settings, "payment-waypoint.production", registry);
      String trace = "0af7651916cd43dd8448eb211c80319c";
      Span server = tracing.startServer(new DefaultHttpHeaders().set("traceparent", "00-" + trace
          + "-b7ad6b7169203331-01"), 0);
      RequestLog r = new RequestLog();
      r.responseCode = 503;
      tracing.endServer(server, r, "payment:80/*");
      tracing.close();
      byte[] body = bodies.poll(10, java.util.concurrent.TimeUnit.SECONDS);
      assertThat(body).as("a request reached the collector").isNotNull();
      assertThat(contentTypes.poll()).isEqualTo("application/x-protobuf");
      assertThat(indexOf(body, java.util.HexFormat.of().parseHex(trace))).as("the trace id in the export")
          .isNotNegative();
      assertThat(registry.scrape()).containsPattern("envoy_tracing_opentelemetry_spans_sent_total(\\{[^}]*\\})? 1\\.0");
    } finally {
      collector.stop(0);
    }
  }

  private static int indexOf(byte[] haystack, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= haystack.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (haystack[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }

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
