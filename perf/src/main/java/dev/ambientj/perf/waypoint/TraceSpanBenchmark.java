package dev.ambientj.perf.waypoint;

import dev.ambientj.waypoint.telemetry.RequestLog;
import dev.ambientj.waypoint.telemetry.TraceHeaders;
import dev.ambientj.waypoint.telemetry.Tracing;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import io.opentelemetry.api.trace.Span;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What tracing costs the waypoint per request (one try): read the incoming context, start the
 * SERVER and CLIENT spans, write the context into the upstream request, end both with their tags.
 * {@code propagateOnly} is the header work alone (what the waypoint did before it made spans);
 * {@code notSampled} a request whose caller said {@code -00}; {@code sampled} one that is kept
 * (the spans are recorded and tagged; no exporter, so the cost of sending is not in it — that
 * runs on the batch processor's thread).
 *
 * <p>Run: {@code ./mvnw -B -q -pl perf -am package -DskipTests && java --enable-native-access=ALL-UNNAMED
 * -jar perf/target/benchmarks.jar TraceSpan -prof gc}
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class TraceSpanBenchmark {
  private static final String TRACE = "0af7651916cd43dd8448eb211c80319c";
  private Tracing tracing;
  private HttpHeaders sampledIn;
  private HttpHeaders notSampledIn;
  private RequestLog log;

  @Setup(Level.Trial)
  public void setup() {
    tracing = Tracing.notExported(new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
    tracing.identify("127.0.1.30", "payment-waypoint", "production", "cluster.local", "Kubernetes");
    sampledIn = new DefaultHttpHeaders().set("traceparent", "00-" + TRACE + "-b7ad6b7169203331-01")
        .set("x-request-id", "4b5abca6-01aa-454b-a9d9-db644a638cd5");
    notSampledIn = new DefaultHttpHeaders().set("traceparent", "00-" + TRACE + "-b7ad6b7169203331-00")
        .set("x-request-id", "4b5abca6-01aa-454b-a9d9-db644a638cd5");
    log = new RequestLog();
    log.method = "GET";
    log.path = "/pay/1";
    log.authority = "payment-service.production.svc.cluster.local";
    log.protocol = "HTTP/1.1";
    log.responseCode = 200;
    log.cluster = "outbound|80|v1|payment-service.production.svc.cluster.local";
    log.upstreamHost = "127.0.2.20:8080";
    log.requestId = "4b5abca6-01aa-454b-a9d9-db644a638cd5";
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    tracing.close();
  }

  @Benchmark
  public HttpHeaders propagateOnly() {
    HttpHeaders up = new DefaultHttpHeaders();
    TraceHeaders.Incoming in = TraceHeaders.extract(sampledIn);
    TraceHeaders.inject(up, in.traceId(), "00f067aa0ba902b7", in.spanId(), true);
    return up;
  }

  @Benchmark
  public HttpHeaders notSampled() {
    return oneRequest(notSampledIn);
  }

  @Benchmark
  public HttpHeaders sampled() {
    return oneRequest(sampledIn);
  }

  private HttpHeaders oneRequest(HttpHeaders in) {
    Span server = tracing.startServer(in, 1);
    Span client = tracing.startClient(server, log.cluster);
    HttpHeaders up = new DefaultHttpHeaders();
    Tracing.inject(up, client, server);
    tracing.endClient(client, "GET", "http://127.0.2.20:8080/pay/1", log.cluster, log.upstreamHost, null, 200, null);
    tracing.endServer(server, log, "payment-service.production.svc.cluster.local:80/*");
    return up;
  }
}
