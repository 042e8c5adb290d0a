package dev.ambientj.waypoint.telemetry;

import dev.ambientj.config.model.Workload;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.handler.codec.http.HttpHeaders;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.AttributesBuilder;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.ContextKey;
import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporter;
import io.opentelemetry.exporter.zipkin.ZipkinSpanExporter;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.SdkTracerProviderBuilder;
import io.opentelemetry.sdk.trace.data.LinkData;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import io.opentelemetry.sdk.trace.samplers.Sampler;
import io.opentelemetry.sdk.trace.samplers.SamplingResult;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import zipkin2.reporter.urlconnection.URLConnectionSender;

/**
 * The waypoint's spans, as Envoy's tracers make them for a waypoint (Istio 1.29's span tags): one
 * {@link SpanKind#SERVER} span per request, named as Istio's default decorator ({@code
 * <service host>:<port>/*}), and one {@link SpanKind#CLIENT} span per upstream try ({@code router
 * <cluster> egress}), child of it; the try's request carries the client span's context ({@link
 * TraceHeaders#inject}), so the upstream's parent is the client span.
 *
 * <p><b>Sampling:</b> an incoming sampled flag is obeyed both ways (not sampled: no span is
 * exported, and {@code -00} / {@code x-b3-sampled: 0} goes on); with no decision, a new trace (or a
 * B3 caller that deferred) is sampled with the percentage in force ({@code Telemetry}
 * {@code tracing[].randomSamplingPercentage}, else {@link TracingSettings#defaultSamplingPercentage}).
 *
 * <p><b>Export</b> (OpenTelemetry SDK): a batch processor with a bounded queue ({@code
 * OTEL_BSP_MAX_QUEUE_SIZE}; when full, spans are dropped, never waited for) sends from its own
 * thread, never an event loop; Zipkin v2 JSON over the JDK's {@code HttpURLConnection} and/or
 * OTLP/HTTP over its {@code HttpClient}. What was sent and what failed is counted with Envoy's
 * tracer stat names ({@code envoy_tracing_zipkin_spans_sent_total}, {@code
 * envoy_tracing_zipkin_reports_failed_total}, {@code envoy_tracing_opentelemetry_spans_sent_total},
 * {@code envoy_tracing_opentelemetry_http_reports_failed_total}); a failure is logged at most once
 * a minute and never reaches a request.
 *
 * <p>Thread-safe; spans are started and ended on the request's event loop.
 */
public final class Tracing implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Tracing.class);
  /** The sampling decision for the span being started, made by {@link #startServer}. */
  private static final ContextKey<Boolean> DECISION = ContextKey.named("ambientj.sampling-decision");

  private static final AttributeKey<String> COMPONENT = AttributeKey.stringKey("component");
  private static final AttributeKey<String> NODE_ID = AttributeKey.stringKey("node_id");
  private static final AttributeKey<String> GUID = AttributeKey.stringKey("guid:x-request-id");
  private static final AttributeKey<String> HTTP_URL = AttributeKey.stringKey("http.url");
  private static final AttributeKey<String> HTTP_METHOD = AttributeKey.stringKey("http.method");
  private static final AttributeKey<String> HTTP_PROTOCOL = AttributeKey.stringKey("http.protocol");
  private static final AttributeKey<String> HTTP_STATUS = AttributeKey.stringKey("http.status_code");
  private static final AttributeKey<String> USER_AGENT = AttributeKey.stringKey("user_agent");
  private static final AttributeKey<String> REQUEST_SIZE = AttributeKey.stringKey("request_size");
  private static final AttributeKey<String> RESPONSE_SIZE = AttributeKey.stringKey("response_size");
  private static final AttributeKey<String> RESPONSE_FLAGS = AttributeKey.stringKey("response_flags");
  private static final AttributeKey<String> UPSTREAM_CLUSTER = AttributeKey.stringKey("upstream_cluster");
  private static final AttributeKey<String> UPSTREAM_CLUSTER_NAME = AttributeKey.stringKey("upstream_cluster.name");
  private static final AttributeKey<String> UPSTREAM_ADDRESS = AttributeKey.stringKey("upstream_address");
  private static final AttributeKey<String> PEER_ADDRESS = AttributeKey.stringKey("peer.address");
  private static final AttributeKey<String> DOWNSTREAM_CLUSTER = AttributeKey.stringKey("downstream_cluster");
  private static final AttributeKey<String> ERROR = AttributeKey.stringKey("error");
  private static final AttributeKey<String> MESH_ID = AttributeKey.stringKey("istio.mesh_id");
  private static final AttributeKey<String> CANONICAL_SERVICE = AttributeKey.stringKey("istio.canonical_service");
  private static final AttributeKey<String> CANONICAL_REVISION = AttributeKey.stringKey("istio.canonical_revision");
  private static final AttributeKey<String> NAMESPACE = AttributeKey.stringKey("istio.namespace");
  private static final AttributeKey<String> CLUSTER_ID = AttributeKey.stringKey("istio.cluster_id");
  private static final AttributeKey<String> SRC_WORKLOAD = AttributeKey.stringKey("istio.source_workload");
  private static final AttributeKey<String> SRC_NAMESPACE = AttributeKey.stringKey("istio.source_namespace");
  private static final AttributeKey<String> SRC_CANONICAL = AttributeKey.stringKey("istio.source_canonical_service");
  private static final AttributeKey<String> SRC_PRINCIPAL = AttributeKey.stringKey("istio.source_principal");
  private static final AttributeKey<String> DST_WORKLOAD = AttributeKey.stringKey("istio.destination_workload");
  private static final AttributeKey<String> DST_NAMESPACE = AttributeKey.stringKey("istio.destination_namespace");
  private static final AttributeKey<String> DST_CANONICAL =
      AttributeKey.stringKey("istio.destination_canonical_service");
  private static final AttributeKey<String> DST_SERVICE = AttributeKey.stringKey("istio.destination_service");

  private final SdkTracerProvider provider;
  private final Tracer tracer;
  private final TracingSettings settings;
  /** Tags every span of this waypoint carries (node, mesh, the waypoint's own canonical service). */
  private volatile Attributes common = Attributes.of(COMPONENT, "proxy");

  private Tracing(SdkTracerProvider provider, TracingSettings settings) {
    this.provider = provider;
    this.tracer = provider.get("dev.ambientj.waypoint");
    this.settings = settings;
  }

  /**
   * Spans of the waypoint whose service name is {@code serviceName} (Istio's {@code
   * <name>.<namespace>}), exported as {@code settings} say; export counters go to {@code registry}.
   */
  public static Tracing create(TracingSettings settings, String serviceName, MeterRegistry registry) {
    SdkTracerProviderBuilder b = SdkTracerProvider.builder()
        .setResource(Resource.getDefault().merge(Resource.create(
            Attributes.of(AttributeKey.stringKey("service.name"), serviceName))))
        .setSampler(DecisionSampler.INSTANCE);
    if (settings.zipkinEndpoint() != null) {
      SpanExporter zipkin = ZipkinSpanExporter.builder()
          .setSender(URLConnectionSender.newBuilder().endpoint(settings.zipkinEndpoint()).connectTimeout(5_000)
              .readTimeout(10_000).build())
          .build();
      b.addSpanProcessor(batch(new CountingExporter(zipkin, "zipkin", settings.zipkinEndpoint(), registry,
          "envoy_tracing_zipkin_spans_sent", "envoy_tracing_zipkin_reports_failed"), settings));
    }
    if (settings.otlpEndpoint() != null) {
      SpanExporter otlp = OtlpHttpSpanExporter.builder().setEndpoint(settings.otlpEndpoint())
          .setTimeout(Duration.ofSeconds(10)).build();
      b.addSpanProcessor(batch(new CountingExporter(otlp, "OTLP", settings.otlpEndpoint(), registry,
          "envoy_tracing_opentelemetry_spans_sent", "envoy_tracing_opentelemetry_http_reports_failed"), settings));
    }
    return new Tracing(b.build(), settings);
  }

  /** Spans made (so trace context flows with its sampling decision) and not exported. */
  public static Tracing notExported(MeterRegistry registry) {
    return create(TracingSettings.defaults(), "waypoint", registry);
  }

  private static BatchSpanProcessor batch(SpanExporter exporter, TracingSettings s) {
    return BatchSpanProcessor.builder(exporter).setMaxQueueSize(s.maxQueueSize())
        .setMaxExportBatchSize(Math.min(512, s.maxQueueSize())).setScheduleDelay(s.scheduleDelay())
        .setExporterTimeout(Duration.ofSeconds(15)).build();
  }

  public TracingSettings settings() {
    return settings;
  }

  /**
   * The waypoint's own tags on every span: {@code node_id} (Envoy's {@code
   * router~<ip>~<name>.<namespace>~<namespace>.svc.cluster.local}), {@code istio.mesh_id}, {@code
   * istio.canonical_service} (the waypoint's name, as its pods are labeled), {@code
   * istio.canonical_revision}, {@code istio.namespace}, {@code istio.cluster_id}.
   */
  public void identify(String ip, String name, String namespace, String meshId, String clusterId) {
    common = Attributes.builder()
        .put(COMPONENT, "proxy")
        .put(NODE_ID, "router~" + ip + "~" + name + "." + namespace + "~" + namespace + ".svc.cluster.local")
        .put(MESH_ID, meshId)
        .put(CANONICAL_SERVICE, name)
        .put(CANONICAL_REVISION, "latest")
        .put(NAMESPACE, namespace)
        .put(CLUSTER_ID, clusterId)
        .build();
  }

  /**
   * Starts the request's SERVER span, child of the context {@code h} arrived with; sampled as that
   * context says, else with probability {@code samplingPercentage}/100.
   */
  public Span startServer(HttpHeaders h, double samplingPercentage) {
    TraceHeaders.Incoming in = TraceHeaders.extract(h);
    boolean sampled = in.sampled() != null ? in.sampled()
        : samplingPercentage >= 100 || samplingPercentage > 0
            && ThreadLocalRandom.current().nextDouble() * 100 < samplingPercentage;
    Context parent = Context.root().with(DECISION, sampled);
    if (in.hasParent()) {
      parent = parent.with(Span.wrap(SpanContext.createFromRemoteParent(in.traceId(), in.spanId(),
          sampled ? TraceFlags.getSampled() : TraceFlags.getDefault(), TraceState.getDefault())));
    }
    return tracer.spanBuilder("waypoint").setSpanKind(SpanKind.SERVER).setParent(parent).startSpan();
  }

  /** A CLIENT span for one upstream try, child of {@code server}; sampled as it is. */
  public Span startClient(Span server, String cluster) {
    return tracer.spanBuilder("router " + cluster + " egress").setSpanKind(SpanKind.CLIENT)
        .setParent(Context.root().with(server)).startSpan();
  }

  /** The request to the upstream continues {@code client}, whose parent is {@code server}. */
  public static void inject(HttpHeaders h, Span client, Span server) {
    SpanContext c = client.getSpanContext();
    TraceHeaders.inject(h, c.getTraceId(), c.getSpanId(), server.getSpanContext().getSpanId(), c.isSampled());
  }

  /** {@code 00-<trace>-<span>-<flags>} of {@code span}, for the access log. */
  public static String traceparent(Span span) {
    SpanContext c = span.getSpanContext();
    return "00-" + c.getTraceId() + "-" + c.getSpanId() + "-" + c.getTraceFlags().asHex();
  }

  /** Ends the SERVER span with what the request's log holds; {@code name} is its operation name. */
  public void endServer(Span span, RequestLog r, String name) {
    if (span.isRecording()) {
      span.updateName(name);
      AttributesBuilder a = common.toBuilder()
          .put(GUID, r.requestId == null ? "" : r.requestId)
          .put(HTTP_URL, "http://" + (r.authority == null ? "" : r.authority) + (r.path == null ? "" : r.path))
          .put(HTTP_METHOD, r.method == null ? "" : r.method)
          .put(HTTP_PROTOCOL, r.protocol == null ? "" : r.protocol)
          .put(HTTP_STATUS, Integer.toString(r.responseCode))
          .put(RESPONSE_FLAGS, r.flagsOrDash())
          .put(REQUEST_SIZE, Long.toString(r.requestBytes))
          .put(RESPONSE_SIZE, Long.toString(r.responseBytes))
          .put(DOWNSTREAM_CLUSTER, "-")
          .put(UPSTREAM_CLUSTER, r.cluster == null ? "-" : r.cluster)
          .put(UPSTREAM_CLUSTER_NAME, r.cluster == null ? "-" : r.cluster);
      if (r.userAgent != null) {
        a.put(USER_AGENT, r.userAgent);
      }
      if (r.sourceAddress != null) {
        a.put(PEER_ADDRESS, r.sourceAddress);
      }
      if (r.upstreamHost != null) {
        a.put(UPSTREAM_ADDRESS, r.upstreamHost);
      }
      if (r.sourcePrincipal != null) {
        a.put(SRC_PRINCIPAL, "spiffe://" + r.sourcePrincipal);
      }
      workload(a, r.sourceWorkload, SRC_WORKLOAD, SRC_NAMESPACE, SRC_CANONICAL);
      workload(a, r.destinationWorkload, DST_WORKLOAD, DST_NAMESPACE, DST_CANONICAL);
      if (r.destinationService != null) {
        a.put(DST_SERVICE, r.destinationService.hostname());
      }
      status(a, span, r.responseCode);
      span.setAllAttributes(a.build());
    }
    span.end();
  }

  /**
   * Ends a try's CLIENT span: {@code status} is the upstream's response code, 0 when there was
   * none ({@code why} then says what happened).
   */
  public void endClient(Span span, String method, String url, String cluster, String upstreamAddress,
      Workload destination, int status, String why) {
    if (span.isRecording()) {
      AttributesBuilder a = common.toBuilder()
          .put(HTTP_METHOD, method)
          .put(HTTP_URL, url)
          .put(UPSTREAM_CLUSTER, cluster)
          .put(UPSTREAM_CLUSTER_NAME, cluster)
          .put(UPSTREAM_ADDRESS, upstreamAddress)
          .put(HTTP_STATUS, Integer.toString(status));
      workload(a, destination, DST_WORKLOAD, DST_NAMESPACE, DST_CANONICAL);
      status(a, span, status);
      if (status == 0 && why != null) {
        span.setStatus(StatusCode.ERROR, why);
      }
      span.setAllAttributes(a.build());
    }
    span.end();
  }

  private static void workload(AttributesBuilder a, Workload w, AttributeKey<String> name,
      AttributeKey<String> namespace, AttributeKey<String> canonical) {
    if (w != null) {
      a.put(name, w.workloadName()).put(namespace, w.namespace()).put(canonical, w.canonicalName());
    }
  }

  /** Envoy marks a span {@code error=true} for 5xx and for no response at all. */
  private static void status(AttributesBuilder a, Span span, int code) {
    if (code >= 500 || code == 0) {
      a.put(ERROR, "true");
      span.setStatus(StatusCode.ERROR);
    }
  }

  /**
   * Sends what is queued (up to 5 s, within the margin {@code ./mesh waypoint} gives its
   * shutdown), then stops.
   */
  @Override
  public void close() {
    provider.shutdown().join(5, TimeUnit.SECONDS);
  }

  /** Samples as {@link #startServer} decided; a child span as its parent is. */
  private enum DecisionSampler implements Sampler {
    INSTANCE;

    @Override
    public SamplingResult shouldSample(Context parentContext, String traceId, String name, SpanKind spanKind,
        Attributes attributes, List<LinkData> parentLinks) {
      Boolean decided = parentContext.get(DECISION);
      boolean sampled = decided != null ? decided : Span.fromContext(parentContext).getSpanContext().isSampled();
      return sampled ? SamplingResult.recordAndSample() : SamplingResult.drop();
    }

    @Override
    public String getDescription() {
      return "IstioSampling{incoming decision, else randomSamplingPercentage}";
    }
  }

  /** Counts spans sent and reports failed; logs a failure at most once a minute. */
  private static final class CountingExporter implements SpanExporter {
    private final SpanExporter delegate;
    private final String kind;
    private final String endpoint;
    private final Counter sent;
    private final Counter failed;
    private volatile long lastLoggedNanos = System.nanoTime() - TimeUnit.MINUTES.toNanos(2);

    CountingExporter(SpanExporter delegate, String kind, String endpoint, MeterRegistry registry, String sentName,
        String failedName) {
      this.delegate = delegate;
      this.kind = kind;
      this.endpoint = endpoint;
      this.sent = Counter.builder(sentName).description("spans the collector accepted").register(registry);
      this.failed = Counter.builder(failedName).description("span reports the collector did not accept")
          .register(registry);
    }

    @Override
    public CompletableResultCode export(Collection<SpanData> spans) {
      CompletableResultCode result;
      try {
        result = delegate.export(spans);
      } catch (RuntimeException e) {
        failure(spans.size(), e.toString());
        return CompletableResultCode.ofFailure();
      }
      int n = spans.size();
      result.whenComplete(() -> {
        if (result.isSuccess()) {
          sent.increment(n);
        } else {
          failure(n, result.getFailureThrowable() == null ? "not accepted" : result.getFailureThrowable().toString());
        }
      });
      return result;
    }

    private void failure(int spans, String why) {
      failed.increment();
      long now = System.nanoTime();
      if (now - lastLoggedNanos > TimeUnit.MINUTES.toNanos(1)) {
        lastLoggedNanos = now;
        log.warn("tracing: {} span(s) not sent to the {} collector at {}: {} (further failures are counted, "
            + "logged once a minute)", spans, kind, endpoint, why);
      }
    }

    @Override
    public CompletableResultCode flush() {
      return delegate.flush();
    }

    @Override
    public CompletableResultCode shutdown() {
      return delegate.shutdown();
    }
  }
}
