package dev.ambientj.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real trace store: Zipkin's server ({@code io.zipkin:zipkin-server:exec}, copied into {@code
 * target/zipkin/} by this module's build), in-memory storage, on 127.0.0.1 and a port the kernel
 * picks (read back from its log line {@code Serving HTTP at /127.0.0.1:PORT}). Started as a child
 * process on the JDK running the tests; {@link #close()} kills it.
 */
final class ZipkinServer implements AutoCloseable {
  static final Path JAR = Path.of("target", "zipkin", "zipkin-server.jar");
  private static final Pattern SERVING = Pattern.compile("Serving HTTP at /127\\.0\\.0\\.1:(\\d+)");
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Process process;
  private final int port;
  private final List<String> output;
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private ZipkinServer(Process process, int port, List<String> output) {
    this.process = process;
    this.port = port;
    this.output = output;
  }

  static ZipkinServer start(Duration within) throws Exception {
    if (!Files.isRegularFile(JAR)) {
      throw new IllegalStateException(JAR.toAbsolutePath() + " is missing: run the test through Maven "
          + "(./mvnw -pl integration-tests -am verify ...), whose dependency plugin copies Zipkin's server there");
    }
    String javaCommand = ProcessHandle.current().info().command().orElse("java");
    Process p = new ProcessBuilder(javaCommand, "-XX:TieredStopAtLevel=1", "-Xmx256m", "-jar", JAR.toString(),
        "--armeria.ports[0].ip=127.0.0.1", "--armeria.ports[0].port=0", "--armeria.ports[0].protocols=http",
        "--zipkin.storage.type=mem")
        .redirectErrorStream(true).start();
    List<String> out = java.util.Collections.synchronizedList(new ArrayList<>());
    CompletableFuture<Integer> port = new CompletableFuture<>();
    Thread reader = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
        for (String line = r.readLine(); line != null; line = r.readLine()) {
          if (out.size() < 2_000) {
            out.add(line);
          }
          Matcher m = SERVING.matcher(line);
          if (m.find()) {
            port.complete(Integer.parseInt(m.group(1)));
          }
        }
      } catch (IOException e) {
        // the process ended
      }
      port.completeExceptionally(new IllegalStateException("Zipkin exited before serving"));
    }, "zipkin-output");
    reader.setDaemon(true);
    reader.start();
    try {
      ZipkinServer z = new ZipkinServer(p, port.get(within.toMillis(), TimeUnit.MILLISECONDS), out);
      z.awaitHealthy(within);
      return z;
    } catch (Exception e) {
      p.destroyForcibly();
      throw new IllegalStateException("Zipkin did not start within " + within + "; its output:\n"
          + String.join("\n", out), e);
    }
  }

  private void awaitHealthy(Duration within) throws Exception {
    long deadline = System.nanoTime() + within.toNanos();
    while (true) {
      try {
        if (get("/health").statusCode() == 200) {
          return;
        }
      } catch (IOException e) {
        if (System.nanoTime() > deadline) {
          throw e;
        }
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("/health not 200");
      }
      Thread.sleep(100);
    }
  }

  /** Where the waypoint sends spans (Zipkin v2). */
  String spansEndpoint() {
    return "http://127.0.0.1:" + port + "/api/v2/spans";
  }

  private HttpResponse<String> get(String path) throws IOException, InterruptedException {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
  }

  /** The spans Zipkin holds for {@code traceId} (none: empty). */
  List<JsonNode> trace(String traceId) throws Exception {
    HttpResponse<String> r = get("/api/v2/trace/" + traceId);
    if (r.statusCode() == 404) {
      return List.of();
    }
    if (r.statusCode() != 200) {
      throw new IllegalStateException("Zipkin answered " + r.statusCode() + " for trace " + traceId + ": " + r.body());
    }
    List<JsonNode> spans = new ArrayList<>();
    JSON.readTree(r.body()).forEach(spans::add);
    return spans;
  }

  /** The trace once it holds at least {@code spans} spans; fails after {@code within}. */
  List<JsonNode> awaitTrace(String traceId, int spans, Duration within) throws Exception {
    long deadline = System.nanoTime() + within.toNanos();
    List<JsonNode> found = trace(traceId);
    while (found.size() < spans) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("trace " + traceId + " has " + found.size() + " span(s) in Zipkin after " + within
            + ", expected " + spans + ": " + found);
      }
      Thread.sleep(100);
      found = trace(traceId);
    }
    return found;
  }

  @Override
  public void close() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(10, TimeUnit.SECONDS)) {
      process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
  }
}
