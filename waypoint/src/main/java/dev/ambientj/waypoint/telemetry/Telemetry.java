package dev.ambientj.waypoint.telemetry;

import dev.ambientj.config.model.Service;
import dev.ambientj.config.model.Workload;
import dev.ambientj.waypoint.cluster.Cluster;
import dev.ambientj.waypoint.cluster.UpstreamHost;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Istio's standard HTTP metrics with {@code reporter="waypoint"} and one JSON access-log line per
 * request (logger {@code dev.ambientj.waypoint.access}).
 *
 * <ul>
 *   <li>{@code istio_requests_total} (counter),
 *   <li>{@code istio_request_duration_milliseconds} (histogram, Istio's default buckets),
 *   <li>{@code istio_request_bytes}, {@code istio_response_bytes} (histograms);
 *   <li>and, under Envoy's names (tag {@code cluster_name}, e.g. {@code
 *       outbound|8080||payment-service.production.svc.cluster.local}): {@code
 *       envoy_cluster_upstream_rq_retry_total} (retries started) and {@code
 *       envoy_cluster_outlier_detection_ejections_enforced_total} (hosts ejected).
 * </ul>
 *
 * <p>Meters are cached per label combination, so a request builds no tag strings after the first
 * of its kind.
 */
public final class Telemetry {
  private static final Logger ACCESS = LoggerFactory.getLogger("dev.ambientj.waypoint.access");
  private static final double[] DURATION_BUCKETS = {
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000
  };
  private static final double[] BYTES_BUCKETS = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

  private record Key(Workload src, String srcPrincipal, Service svc, Workload dst, int code, String flags,
      boolean grpc, String grpcStatus) {}

  private record Meters(Counter requests, DistributionSummary duration, DistributionSummary reqBytes,
      DistributionSummary respBytes) {}

  private final MeterRegistry registry;
  private final String cluster;
  private final Map<Key, Meters> meters = new ConcurrentHashMap<>();
  private final Map<String, Counter> retries = new ConcurrentHashMap<>();
  private final Map<String, Counter> ejections = new ConcurrentHashMap<>();

  public Telemetry(MeterRegistry registry, String clusterName) {
    this.registry = registry;
    this.cluster = clusterName;
  }

  public MeterRegistry registry() {
    return registry;
  }

  /** A retry of a request to {@code cluster} starts. */
  public void retry(Cluster cluster) {
    retries.computeIfAbsent(cluster.key().toString(), name -> Counter.builder(
            "envoy_cluster_upstream_rq_retry").description("request retries started")
        .tag("cluster_name", name).register(registry)).increment();
  }

  /**
   * A try's outcome, recorded for outlier detection ({@link Cluster#recordOutcome}); an ejection
   * it causes is counted.
   */
  public void outcome(Cluster cluster, UpstreamHost host, int status, boolean localFailure,
      long now) {
    if (cluster.recordOutcome(host, status, localFailure, now)) {
      ejections.computeIfAbsent(cluster.key().toString(), name -> Counter.builder(
              "envoy_cluster_outlier_detection_ejections_enforced")
          .description("upstream hosts ejected by outlier detection")
          .tag("cluster_name", name).register(registry)).increment();
    }
  }

  public void record(RequestLog r) {
    Key k = new Key(r.sourceWorkload, r.sourcePrincipal, r.destinationService, r.destinationWorkload,
        r.responseCode, r.flagsOrDash(), r.grpc, r.grpcStatus);
    Meters m = meters.computeIfAbsent(k, this::build);
    m.requests.increment();
    m.duration.record(r.durationNanos / 1_000_000.0);
    m.reqBytes.record(r.requestBytes);
    m.respBytes.record(r.responseBytes);
    if (ACCESS.isInfoEnabled()) {
      ACCESS.info(accessLine(r));
    }
  }

  private Meters build(Key k) {
    Tags tags = tags(k);
    return new Meters(
        Counter.builder("istio_requests").tags(tags).register(registry),
        DistributionSummary.builder("istio_request_duration_milliseconds").tags(tags)
            .serviceLevelObjectives(DURATION_BUCKETS).register(registry),
        DistributionSummary.builder("istio_request_bytes").tags(tags)
            .serviceLevelObjectives(BYTES_BUCKETS).register(registry),
        DistributionSummary.builder("istio_response_bytes").tags(tags)
            .serviceLevelObjectives(BYTES_BUCKETS).register(registry));
  }

  private Tags tags(Key k) {
    Workload s = k.src;
    Workload d = k.dst;
    Service svc = k.svc;
    return Tags.of(
        "reporter", "waypoint",
        "source_workload", s == null ? "unknown" : s.workloadName(),
        "source_workload_namespace", s == null ? ns(k.srcPrincipal) : s.namespace(),
        "source_principal", k.srcPrincipal == null ? "unknown" : "spiffe://" + k.srcPrincipal,
        "source_app", s == null ? "unknown" : s.labels().getOrDefault("app", "unknown"),
        "source_version", s == null ? "unknown" : s.labels().getOrDefault("version", "unknown"),
        "source_canonical_service", s == null ? "unknown" : s.canonicalName(),
        "source_canonical_revision", s == null ? "unknown" : s.canonicalRevision(),
        "source_cluster", cluster,
        "destination_workload", d == null ? "unknown" : d.workloadName(),
        "destination_workload_namespace", d == null ? "unknown" : d.namespace(),
        "destination_principal", d == null ? "unknown" : d.spiffeId(),
        "destination_app", d == null ? "unknown" : d.labels().getOrDefault("app", "unknown"),
        "destination_version", d == null ? "unknown" : d.labels().getOrDefault("version", "unknown"),
        "destination_canonical_service", d == null ? "unknown" : d.canonicalName(),
        "destination_canonical_revision", d == null ? "unknown" : d.canonicalRevision(),
        "destination_service", svc == null ? "unknown" : svc.hostname(),
        "destination_service_name", svc == null ? "unknown" : svc.name(),
        "destination_service_namespace", svc == null ? "unknown" : svc.namespace(),
        "destination_cluster", cluster,
        "request_protocol", k.grpc ? "grpc" : "http",
        "response_code", Integer.toString(k.code),
        "grpc_response_status", k.grpcStatus == null ? "" : k.grpcStatus,
        "response_flags", k.flags,
        "connection_security_policy", "mutual_tls");
  }

  private static String ns(String principal) {
    if (principal == null) {
      return "unknown";
    }
    String[] p = principal.split("/");
    return p.length == 5 ? p[2] : "unknown";
  }

  /** The access-log line: one JSON object, Envoy's field names where they exist. */
  static String accessLine(RequestLog r) {
    StringBuilder b = new StringBuilder(512);
    b.append('{');
    field(b, "start_time", Instant.ofEpochMilli(r.startMillis).toString());
    field(b, "method", r.method);
    field(b, "path", r.path);
    field(b, "protocol", r.protocol);
    num(b, "response_code", r.responseCode);
    field(b, "response_flags", r.flagsOrDash());
    if (r.grpcStatus != null) {
      field(b, "grpc_status", r.grpcStatus);
    }
    field(b, "response_code_details", r.detail);
    num(b, "bytes_received", r.requestBytes);
    num(b, "bytes_sent", r.responseBytes);
    num(b, "duration", r.durationNanos / 1_000_000);
    field(b, "authority", r.authority);
    field(b, "x_request_id", r.requestId);
    field(b, "traceparent", r.traceparent);
    field(b, "route_name", r.route);
    field(b, "upstream_cluster", r.cluster);
    field(b, "upstream_host", r.upstreamHost);
    num(b, "attempts", r.attempts);
    field(b, "downstream_peer_address", r.sourceAddress);
    field(b, "source_principal", r.sourcePrincipal == null ? null : "spiffe://" + r.sourcePrincipal);
    field(b, "user_agent", r.userAgent);
    b.setLength(b.length() - 1);
    b.append('}');
    return b.toString();
  }

  private static void num(StringBuilder b, String k, long v) {
    b.append('"').append(k).append("\":").append(v).append(',');
  }

  private static void field(StringBuilder b, String k, String v) {
    b.append('"').append(k).append("\":");
    if (v == null) {
      b.append("null,");
      return;
    }
    b.append('"');
    for (int i = 0; i < v.length(); i++) {
      char c = v.charAt(i);
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        default -> {
          if (c < 0x20) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    b.append("\",");
  }
}
