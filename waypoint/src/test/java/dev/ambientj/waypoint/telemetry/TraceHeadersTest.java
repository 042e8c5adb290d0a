package dev.ambientj.waypoint.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import io.opentelemetry.api.trace.Span;
import org.junit.jupiter.api.Test;

/** The trace context headers the waypoint reads and writes: W3C, B3 single, B3 multi. */
class TraceHeadersTest {
  private static final String TRACE = "0af7651916cd43dd8448eb211c80319c";
  private static final String SPAN = "b7ad6b7169203331";

  private static HttpHeaders headers(String... nameValues) {
    HttpHeaders h = new DefaultHttpHeaders();
    for (int i = 0; i < nameValues.length; i += 2) {
      h.set(nameValues[i], nameValues[i + 1]);
    }
    return h;
  }

  @Test
  void traceparentGivesTraceSpanAndSampledFlag() {
    assertThat(TraceHeaders.extract(headers("traceparent", "00-" + TRACE + "-" + SPAN + "-01")))
        .isEqualTo(new TraceHeaders.Incoming(TRACE, SPAN, true));
    assertThat(TraceHeaders.extract(headers("traceparent", "00-" + TRACE + "-" + SPAN + "-00")))
        .isEqualTo(new TraceHeaders.Incoming(TRACE, SPAN, false));
    assertThat(TraceHeaders.extract(headers("traceparent", "01-" + TRACE + "-" + SPAN + "-03-future")))
        .as("a later version may carry more fields").isEqualTo(new TraceHeaders.Incoming(TRACE, SPAN, true));
  }

  @Test
  void b3SingleHeaderInEveryForm() {
    assertThat(TraceHeaders.extract(headers("b3", TRACE + "-" + SPAN + "-1-00f067aa0ba902b7")))
        .isEqualTo(new TraceHeaders.Incoming(TRACE, SPAN, true));
    assertThat(TraceHeaders.extract(headers("b3", TRACE + "-" + SPAN + "-0")))
        .isEqualTo(new TraceHeaders.Incoming(TRACE, SPAN, false));
    assertThat(TraceHeaders.extract(headers("b3", TRACE + "-" + SPAN + "-d"))).as("debug is sampled")
        .isEqualTo(new TraceHeaders.Incoming(TRACE, SPAN, true));
    assertThat(TraceHeaders.extract(headers("b3", TRACE + "-" + SPAN))).as("decision deferred")
        .isEqualTo(new TraceHeaders.Incoming(TRACE, SPAN, null));
    assertThat(TraceHeaders.extract(headers("b3", "a3ce929d0e0e4736-" + SPAN + "-1"))).as("64-bit trace id")
        .isEqualTo(new TraceHeaders.Incoming("0000000000000000a3ce929d0e0e4736", SPAN, true));
    assertThat(TraceHeaders.extract(headers("b3", "0"))).as("deny, no ids")
        .isEqualTo(new TraceHeaders.Incoming(null, null, false));
  }

  @Test
  void b3MultiHeaders() {
    assertThat(TraceHeaders.extract(headers("x-b3-traceid", TRACE, "x-b3-spanid", SPAN, "x-b3-sampled", "0")))
        .isEqualTo(new TraceHeaders.Incoming(TRACE, SPAN, false));
    assertThat(TraceHeaders.extract(headers("x-b3-traceid", TRACE, "x-b3-spanid", SPAN, "x-b3-flags", "1",
        "x-b3-sampled", "0"))).as("debug wins").isEqualTo(new TraceHeaders.Incoming(TRACE, SPAN, true));
    assertThat(TraceHeaders.extract(headers("x-b3-traceid", TRACE, "x-b3-spanid", SPAN)))
        .isEqualTo(new TraceHeaders.Incoming(TRACE, SPAN, null));
  }

  @Test
  void traceparentWinsOverB3() {
    String other = "11111111111111111111111111111111";
    assertThat(TraceHeaders.extract(headers("traceparent", "00-" + TRACE + "-" + SPAN + "-01",
        "b3", other + "-" + SPAN + "-0", "x-b3-traceid", other, "x-b3-spanid", SPAN)).traceId()).isEqualTo(TRACE);
    assertThat(TraceHeaders.extract(headers("b3", TRACE + "-" + SPAN + "-1", "x-b3-traceid", other,
        "x-b3-spanid", SPAN)).traceId()).as("single before multi").isEqualTo(TRACE);
  }

  @Test
  void malformedHeadersAreIgnoredNeverThrown() {
    String[][] bad = {
      {"traceparent", "00-" + TRACE.toUpperCase() + "-" + SPAN + "-01"},
      {"traceparent", "00-00000000000000000000000000000000-" + SPAN + "-01"},
      {"traceparent", "00-" + TRACE + "-0000000000000000-01"},
      {"traceparent", "ff-" + TRACE + "-" + SPAN + "-01"},
      {"traceparent", "00-" + TRACE + "-" + SPAN + "-01-extra"},
      {"traceparent", "00-" + TRACE + "-" + SPAN},
      {"traceparent", "garbage"},
      {"b3", TRACE + "-" + SPAN + "-x"},
      {"b3", TRACE + "-short"},
      {"b3", "-"},
      {"b3", "---"},
      {"b3", TRACE + "-" + SPAN + "-1-bad"},
      {"b3", "z"},
      {"x-b3-traceid", "not-hex-not-hex-"},
      {"x-b3-traceid", TRACE},
    };
    for (String[] h : bad) {
      assertThat(TraceHeaders.extract(headers(h)).hasParent()).as("%s: %s", h[0], h[1]).isFalse();
    }
    assertThat(TraceHeaders.extract(headers("x-b3-spanid", SPAN, "x-b3-sampled", "maybe")).hasParent()).isFalse();
  }

  @Test
  void injectWritesEveryFormatConsistently() {
    HttpHeaders h = headers("b3", "whatever", "x-b3-flags", "1");
    TraceHeaders.inject(h, TRACE, SPAN, "00f067aa0ba902b7", false);
    assertThat(h.get("traceparent")).isEqualTo("00-" + TRACE + "-" + SPAN + "-00");
    assertThat(h.get("x-b3-traceid")).isEqualTo(TRACE);
    assertThat(h.get("x-b3-spanid")).isEqualTo(SPAN);
    assertThat(h.get("x-b3-parentspanid")).isEqualTo("00f067aa0ba902b7");
    assertThat(h.get("x-b3-sampled")).isEqualTo("0");
    assertThat(h.get("b3")).as("rewritten because the request carried it")
        .isEqualTo(TRACE + "-" + SPAN + "-0-00f067aa0ba902b7");
    assertThat(h.contains("x-b3-flags")).isFalse();

    HttpHeaders plain = new DefaultHttpHeaders();
    TraceHeaders.inject(plain, TRACE, SPAN, null, true);
    assertThat(plain.get("traceparent")).endsWith("-01");
    assertThat(plain.contains("b3")).as("not added when absent").isFalse();
    assertThat(plain.contains("x-b3-parentspanid")).isFalse();
  }

  @Test
  void serverSpanContinuesTheCallerAndHonoursItsDecision() {
    try (Tracing tracing = Tracing.notExported(new PrometheusMeterRegistry(PrometheusConfig.DEFAULT))) {
      Span s = tracing.startServer(headers("traceparent", "00-" + TRACE + "-" + SPAN + "-00"), 100);
      assertThat(s.getSpanContext().getTraceId()).isEqualTo(TRACE);
      assertThat(s.getSpanContext().getSpanId()).isNotEqualTo(SPAN);
      assertThat(s.getSpanContext().isSampled()).as("caller said no; 100% does not override").isFalse();
      assertThat(s.isRecording()).isFalse();
      Span c = tracing.startClient(s, "outbound|80|v1|payment");
      assertThat(c.getSpanContext().isSampled()).isFalse();
      HttpHeaders out = new DefaultHttpHeaders();
      Tracing.inject(out, c, s);
      assertThat(out.get("traceparent")).isEqualTo("00-" + TRACE + "-" + c.getSpanContext().getSpanId() + "-00");
      assertThat(out.get("x-b3-parentspanid")).isEqualTo(s.getSpanContext().getSpanId());

      Span yes = tracing.startServer(headers("b3", TRACE + "-" + SPAN + "-1"), 0);
      assertThat(yes.getSpanContext().isSampled()).as("caller said yes; 0% does not override").isTrue();
      assertThat(yes.isRecording()).isTrue();
    }
  }

  @Test
  void newTracesAreSampledAtThePercentage() {
    try (Tracing tracing = Tracing.notExported(new PrometheusMeterRegistry(PrometheusConfig.DEFAULT))) {
      int sampled = 0;
      for (int i = 0; i < 10_000; i++) {
        if (tracing.startServer(new DefaultHttpHeaders(), 10).getSpanContext().isSampled()) {
          sampled++;
        }
      }
      assertThat(sampled).as("about 10%% of 10000").isBetween(800, 1200);
      assertThat(tracing.startServer(new DefaultHttpHeaders(), 0).getSpanContext().isSampled()).isFalse();
      assertThat(tracing.startServer(new DefaultHttpHeaders(), 100).getSpanContext().isSampled()).isTrue();
      assertThat(tracing.startServer(headers("x-b3-traceid", TRACE, "x-b3-spanid", SPAN), 100)
          .getSpanContext().getTraceId()).as("deferred B3 decision: continued, sampled here").isEqualTo(TRACE);
    }
  }

  @Test
  void settingsFromTheEnvironmentNameTheBadVariable() {
    TracingSettings s = TracingSettings.fromEnvironment(java.util.Map.of(
        "OTEL_EXPORTER_ZIPKIN_ENDPOINT", "http://127.0.0.1:9411/api/v2/spans", "MESH_TRACING_SAMPLING", "50"));
    assertThat(s.zipkinEndpoint()).isEqualTo("http://127.0.0.1:9411/api/v2/spans");
    assertThat(s.defaultSamplingPercentage()).isEqualTo(50);
    assertThat(TracingSettings.fromEnvironment(java.util.Map.of()).exports()).isFalse();
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> TracingSettings.fromEnvironment(
        java.util.Map.of("MESH_TRACING_SAMPLING", "150"))).hasMessageContaining("MESH_TRACING_SAMPLING");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> TracingSettings.fromEnvironment(
        java.util.Map.of("OTEL_EXPORTER_ZIPKIN_ENDPOINT", "zipkin:9411"))).hasMessageContaining(
        "OTEL_EXPORTER_ZIPKIN_ENDPOINT");
  }
}
