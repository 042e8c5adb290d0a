package dev.ambientj.waypoint.telemetry;

import java.net.URI;
import java.time.Duration;
import java.util.Map;

/**
 * Where the waypoint's spans go and how many are kept, read from the process environment with
 * OpenTelemetry's variable names where they exist:
 *
 * <ul>
 *   <li>{@code OTEL_EXPORTER_ZIPKIN_ENDPOINT}: a Zipkin collector's span endpoint, e.g. {@code
 *       http://zipkin.istio-system:9411/api/v2/spans} (Zipkin v2 JSON);
 *   <li>{@code OTEL_EXPORTER_OTLP_TRACES_ENDPOINT}: an OTLP/HTTP collector's trace endpoint, e.g.
 *       {@code http://otel-collector:4318/v1/traces} (protobuf);
 *   <li>{@code OTEL_BSP_MAX_QUEUE_SIZE} (default 2048): spans waiting for export; more are dropped;
 *   <li>{@code OTEL_BSP_SCHEDULE_DELAY} (milliseconds, default 5000): how often spans are sent;
 *   <li>{@code MESH_TRACING_SAMPLING} (percent, default 1, Istio's mesh default): the share of new
 *       traces sampled when no {@code Telemetry} resource sets {@code randomSamplingPercentage}.
 * </ul>
 *
 * <p>Neither endpoint: spans are made (trace context still flows, with the sampling decision) but
 * not sent anywhere.
 *
 * @param zipkinEndpoint null when not exporting to Zipkin
 * @param otlpEndpoint null when not exporting over OTLP
 */
public record TracingSettings(String zipkinEndpoint, String otlpEndpoint, double defaultSamplingPercentage,
    int maxQueueSize, Duration scheduleDelay) {
  public static final String ZIPKIN_ENV = "OTEL_EXPORTER_ZIPKIN_ENDPOINT";
  public static final String OTLP_ENV = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
  public static final String QUEUE_ENV = "OTEL_BSP_MAX_QUEUE_SIZE";
  public static final String DELAY_ENV = "OTEL_BSP_SCHEDULE_DELAY";
  public static final String SAMPLING_ENV = "MESH_TRACING_SAMPLING";
  /** Istio's mesh-wide default ({@code meshConfig.defaultConfig.tracing.sampling}). */
  public static final double DEFAULT_SAMPLING_PERCENTAGE = 1.0;

  public TracingSettings {
    zipkinEndpoint = endpoint(ZIPKIN_ENV, zipkinEndpoint);
    otlpEndpoint = endpoint(OTLP_ENV, otlpEndpoint);
    checkPercentage(SAMPLING_ENV, defaultSamplingPercentage);
    if (maxQueueSize < 1) {
      throw new IllegalArgumentException(QUEUE_ENV + ": must be at least 1, got " + maxQueueSize);
    }
    if (scheduleDelay.isNegative() || scheduleDelay.isZero()) {
      throw new IllegalArgumentException(DELAY_ENV + ": must be positive, got " + scheduleDelay.toMillis() + " ms");
    }
  }

  /** No exporter, Istio's default sampling. */
  public static TracingSettings defaults() {
    return new TracingSettings(null, null, DEFAULT_SAMPLING_PERCENTAGE, 2048, Duration.ofSeconds(5));
  }

  /** This setting with spans sent to the Zipkin collector at {@code endpoint}. */
  public TracingSettings withZipkin(String endpoint) {
    return new TracingSettings(endpoint, otlpEndpoint, defaultSamplingPercentage, maxQueueSize, scheduleDelay);
  }

  public TracingSettings withScheduleDelay(Duration delay) {
    return new TracingSettings(zipkinEndpoint, otlpEndpoint, defaultSamplingPercentage, maxQueueSize, delay);
  }

  public TracingSettings withDefaultSamplingPercentage(double percentage) {
    return new TracingSettings(zipkinEndpoint, otlpEndpoint, percentage, maxQueueSize, scheduleDelay);
  }

  /**
   * From environment variables (see the class comment).
   *
   * @throws IllegalArgumentException naming the variable whose value is wrong
   */
  public static TracingSettings fromEnvironment(Map<String, String> env) {
    TracingSettings d = defaults();
    return new TracingSettings(blankToNull(env.get(ZIPKIN_ENV)), blankToNull(env.get(OTLP_ENV)),
        number(env, SAMPLING_ENV, d.defaultSamplingPercentage),
        (int) number(env, QUEUE_ENV, d.maxQueueSize),
        Duration.ofMillis((long) number(env, DELAY_ENV, d.scheduleDelay.toMillis())));
  }

  public boolean exports() {
    return zipkinEndpoint != null || otlpEndpoint != null;
  }

  /** Istio's {@code randomSamplingPercentage} range: 0 to 100. */
  static void checkPercentage(String what, double p) {
    if (!(p >= 0 && p <= 100)) {
      throw new IllegalArgumentException(what + ": a percentage from 0 to 100, got " + p);
    }
  }

  private static double number(Map<String, String> env, String name, double dflt) {
    String v = blankToNull(env.get(name));
    if (v == null) {
      return dflt;
    }
    try {
      return Double.parseDouble(v.strip());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + ": '" + v + "' is not a number");
    }
  }

  private static String blankToNull(String v) {
    return v == null || v.isBlank() ? null : v.strip();
  }

  private static String endpoint(String name, String url) {
    if (url == null) {
      return null;
    }
    URI u;
    try {
      u = URI.create(url);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(name + ": '" + url + "' is not a URL");
    }
    if (!"http".equals(u.getScheme()) && !"https".equals(u.getScheme()) || u.getHost() == null) {
      throw new IllegalArgumentException(name + ": '" + url + "' is not an http(s) URL with a host");
    }
    return url;
  }
}
