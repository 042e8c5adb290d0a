package dev.ambientj.perf.config;

import java.io.IOException;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code mesh config-server --kubernetes} as a child JVM ({@link ChildJvm}), reading the cluster
 * from the API server at a URL (the bench's mock server). Its log's wall-clock timestamps tell
 * when each snapshot version was published ({@code mesh configuration version N from
 * Kubernetes}, logged just before the publish), and its NACK lines are counted.
 */
final class ConfigServerProcess implements AutoCloseable {
  private static final Pattern PUBLISHED =
      Pattern.compile("^(\\S+) .*mesh configuration version (\\d+) from Kubernetes");
  private static final DateTimeFormatter TIME =
      DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSZ");

  final ChildJvm jvm;
  /** snapshot version → when it was published (epoch ms, the server's clock). */
  private final Map<Long, Long> published = new ConcurrentHashMap<>();
  private final AtomicLong nackLines = new AtomicLong();

  /** Starts it; {@code jvmFlags} are added (a flight recording, say). */
  ConfigServerProcess(String kubernetesUrl, int port, Path stateDir, List<String> jvmFlags)
      throws IOException {
    jvm = new ChildJvm(java.util.stream.Stream.concat(jvmFlags.stream(), java.util.stream.Stream.of(
            "-Dkubernetes.master=" + kubernetesUrl,
            "-Dkubernetes.auth.tryKubeConfig=false",
            "-Dkubernetes.auth.tryServiceAccount=false",
            "-Dkubernetes.namespace=ambientj-system",
            "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ",
            // one line per stream (200 at each start) is not what is measured
            "-Dorg.slf4j.simpleLogger.log.dev.ambientj.config.xds.XdsServer=warn")).toList(),
        "dev.ambientj.config.server.ConfigServerCommand",
        List.of("--kubernetes", "--listen", "127.0.0.1:" + port, "--state-dir",
            stateDir.toString()),
        "config server listening on", this::line);
  }

  private void line(String line) {
    Matcher m = PUBLISHED.matcher(line);
    if (m.find()) {
      published.put(Long.parseLong(m.group(2)),
          OffsetDateTime.parse(m.group(1), TIME).toInstant().toEpochMilli());
    }
    if (line.contains("xDS NACK")) {
      nackLines.incrementAndGet();
    }
  }

  void awaitListening(long seconds) throws InterruptedException {
    jvm.awaitReady(seconds);
  }

  /** When snapshot {@code version} was published (epoch ms), or -1 when not (yet) logged. */
  long publishedMillis(long version) {
    Long t = published.get(version);
    return t == null ? -1 : t;
  }

  long nackLines() {
    return nackLines.get();
  }

  @Override
  public void close() throws InterruptedException {
    jvm.close();
  }
}
