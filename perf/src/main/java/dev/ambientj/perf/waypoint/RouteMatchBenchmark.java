package dev.ambientj.perf.waypoint;

import dev.ambientj.config.MeshYaml;
import dev.ambientj.waypoint.route.RouteRequest;
import dev.ambientj.waypoint.route.RouteTable;
import dev.ambientj.waypoint.route.VirtualServiceCompiler;
import io.fabric8.istio.api.networking.v1.VirtualService;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Route selection of the waypoint on a compiled VirtualService: a header canary, a regex, a
 * prefix and the weighted catch-all (the last route wins, so every earlier match is tried).
 *
 * <p>Run: {@code ./mvnw -B -q -pl perf package -DskipTests && java --enable-native-access=ALL-UNNAMED
 * -jar perf/target/benchmarks.jar RouteMatchBenchmark -prof gc}
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class RouteMatchBenchmark {
  private RouteTable table;
  private HttpHeaders headers;
  private HttpHeaders canaryHeaders;

  @Setup
  public void setup() {
    String yaml = """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: payment-service, namespace: production}
        spec:
          hosts: [payment-service]
          http:
          - match: [{headers: {x-canary-user: {exact: "true"}}}]
            route: [{destination: {host: payment-service, subset: v2}}]
          - match: [{uri: {regex: "/orders/[0-9]+/items"}}]
            route: [{destination: {host: payment-service, subset: v1}}]
          - match: [{uri: {prefix: /api/v2}}]
            route: [{destination: {host: payment-service, subset: v2}}]
          - route:
            - {destination: {host: payment-service, subset: v1}, weight: 95}
            - {destination: {host: payment-service, subset: v2}, weight: 5}
        """;
    VirtualService vs = (VirtualService) MeshYaml.load(yaml, "bench").objects().get(0);
    table = new RouteTable("bench", VirtualServiceCompiler.compile(vs, p -> {}));
    headers = new DefaultHttpHeaders().add("user-agent", "bench").add("accept", "*/*");
    canaryHeaders = new DefaultHttpHeaders().add("x-canary-user", "true");
  }

  @Benchmark
  public Object catchAll() {
    return table.find(new RouteRequest("GET", "/pay/charge?id=7", headers, "payment-service", 80));
  }

  @Benchmark
  public Object headerCanary() {
    return table.find(new RouteRequest("GET", "/pay", canaryHeaders, "payment-service", 80));
  }

  @Benchmark
  public Object regex() {
    return table.find(new RouteRequest("GET", "/orders/123/items", headers, "payment-service", 80));
  }
}
