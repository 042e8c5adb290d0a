package dev.ambientj.hbone.admin;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.hbone.transport.AcceptBackoff;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The operator's admin paths on a real {@link AdminServer} over loopback HTTP: the index, run-time
 * log levels (seen in what a logger really prints) and {@code /quitquitquit}.
 */
class OperatorEndpointsTest {
  private static final String PROBE_SCOPE = "dev.ambientj.hbone.admin.probe";
  private static MultiThreadIoEventLoopGroup group;
  private static AdminServer server;
  private static final AtomicInteger quits = new AtomicInteger();
  private static final CountDownLatch quit = new CountDownLatch(1);
  private final HttpClient http = HttpClient.newHttpClient();
  private static LogLevels levels;

  @BeforeAll
  static void start() throws Exception {
    group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    levels = LogLevels.ofThisProcess(List.of(PROBE_SCOPE));
    server = AdminServer.start(group, NioServerSocketChannel.class,
        new InetSocketAddress("127.0.0.1", 0),
        OperatorEndpoints.with("probe admin", Map.of("/healthz", q -> AdminResponse.text(200, "ok\n")),
            Map.of("/healthz", "200 while running"), levels, () -> {
              quits.incrementAndGet();
              quit.countDown();
            }),
        new AdminServer.Guard(16, new AcceptBackoff("test"), limit -> { }));
  }

  @AfterEach
  void restoreLevels() {
    http.close(); // its kept-alive connections count against the server's cap
    levels.setAll("info");
    System.clearProperty("org.slf4j.simpleLogger.log." + PROBE_SCOPE);
  }

  @AfterAll
  static void stop() {
    server.close();
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  @Test
  void theIndexListsEveryPathWithWhatItDoes() throws Exception {
    HttpResponse<String> index = send("GET", "/");
    assertThat(index.statusCode()).isEqualTo(200);
    assertThat(index.body()).startsWith("probe admin\n")
        .containsPattern("(?m)^  /healthz +200 while running$")
        .containsPattern("(?m)^  /logging +GET: log level of each scope")
        .containsPattern("(?m)^  /quitquitquit +POST: drain and exit");
  }

  @Test
  void aScopeSetToDebugPrintsDebugLinesFromThenOn() throws Exception {
    Logger probe = LoggerFactory.getLogger(PROBE_SCOPE + ".Component");
    String before = captureStderr(() -> probe.debug("debug line before the change"));
    assertThat(before).doesNotContain("debug line before the change");
    assertThat(send("GET", "/logging").body()).contains("  " + PROBE_SCOPE + ": info\n");

    HttpResponse<String> set = send("POST", "/logging?" + PROBE_SCOPE + "=debug");

    assertThat(set.statusCode()).isEqualTo(200);
    assertThat(set.body()).contains("  " + PROBE_SCOPE + ": debug\n");
    String after = captureStderr(() -> probe.debug("debug line after the change"));
    assertThat(after).contains("DEBUG " + PROBE_SCOPE + ".Component - debug line after the change");
    assertThat(LoggerFactory.getLogger(PROBE_SCOPE + ".CreatedLater").isDebugEnabled())
        .as("a logger created after the change gets the scope's level").isTrue();
    assertThat(LoggerFactory.getLogger("dev.ambientj.hbone.admin.Other").isDebugEnabled())
        .as("outside the scope nothing changed").isFalse();
  }

  @Test
  void levelWithoutAScopeSetsEveryLoggerAndTheDefault() throws Exception {
    Logger elsewhere = LoggerFactory.getLogger("dev.ambientj.elsewhere.Thing");
    assertThat(elsewhere.isTraceEnabled()).isFalse();

    HttpResponse<String> set = send("POST", "/logging?level=trace");

    assertThat(set.statusCode()).isEqualTo(200);
    assertThat(set.body()).startsWith("active loggers:\n  default: trace\n");
    assertThat(elsewhere.isTraceEnabled()).isTrue();
    assertThat(LoggerFactory.getLogger("brand.new.Logger").isTraceEnabled()).isTrue();
    send("POST", "/logging?level=warn");
    assertThat(elsewhere.isInfoEnabled()).isFalse();
    assertThat(elsewhere.isWarnEnabled()).isTrue();
  }

  @Test
  void aBadLevelIs400NamingItAndChangesNothing() throws Exception {
    HttpResponse<String> bad = send("POST", "/logging?" + PROBE_SCOPE + "=debug&level=loud");
    assertThat(bad.statusCode()).isEqualTo(400);
    assertThat(bad.body()).isEqualTo("'loud' (parameter level) is not a level; use one of"
        + " trace|debug|info|warn|error\n");
    assertThat(LoggerFactory.getLogger(PROBE_SCOPE).isDebugEnabled())
        .as("nothing of a rejected request is applied").isFalse();
    assertThat(send("POST", "/logging?bad%20scope=debug").statusCode()).isEqualTo(400);
    assertThat(send("POST", "/logging").statusCode()).isEqualTo(400);
    assertThat(send("GET", "/logging?level=debug").statusCode())
        .as("a change is a POST").isEqualTo(405);
    assertThat(send("PUT", "/logging?level=debug").statusCode()).isEqualTo(405);
  }

  @Test
  void quitquitquitTakesPostAnswersOkAndQuitsOnce() throws Exception {
    HttpResponse<String> get = send("GET", "/quitquitquit");
    assertThat(get.statusCode()).isEqualTo(405);
    assertThat(quits.get()).isZero();

    HttpResponse<String> post = send("POST", "/quitquitquit");

    assertThat(post.statusCode()).isEqualTo(200);
    assertThat(post.body()).isEqualTo("OK\n");
    assertThat(quit.await(10, TimeUnit.SECONDS)).isTrue();
    assertThat(send("POST", "/quitquitquit").statusCode()).isEqualTo(200);
    Thread.sleep(100);
    assertThat(quits.get()).as("a second POST does not start a second drain").isEqualTo(1);
  }

  private HttpResponse<String> send(String method, String pathAndQuery) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
            + server.address().getPort() + pathAndQuery))
        .method(method, HttpRequest.BodyPublishers.noBody()).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /** What {@code action} printed on stderr (slf4j-simple's output). */
  private static String captureStderr(Runnable action) {
    PrintStream original = System.err;
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
    try {
      action.run();
    } finally {
      System.setErr(original);
    }
    return captured.toString(StandardCharsets.UTF_8);
  }
}
