package dev.ambientj.config.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.ca.CaClient;
import dev.ambientj.config.ca.CsrFactory;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigServerCommandTest {
  @TempDir Path tmp;

  private final ByteArrayOutputStream outBytes = new ByteArrayOutputStream();
  private final ByteArrayOutputStream errBytes = new ByteArrayOutputStream();
  private final PrintStream out = new PrintStream(outBytes, true, StandardCharsets.UTF_8);
  private final PrintStream err = new PrintStream(errBytes, true, StandardCharsets.UTF_8);

  @Test
  void usageErrorsExitWith2AndPrintTheUsage() {
    assertThat(ConfigServerCommand.run(new String[] {"--config", mesh().toString(), "--bogus"}, out, err))
        .isEqualTo(2);
    assertThat(errBytes.toString()).contains("Unknown option: '--bogus'").contains("Usage: mesh config-server");
    errBytes.reset();
    assertThat(ConfigServerCommand.run(new String[] {}, out, err)).isEqualTo(2);
    assertThat(errBytes.toString()).contains("--config FILE or --kubernetes is required");
    errBytes.reset();
    assertThat(ConfigServerCommand.run(new String[] {"--config", mesh().toString(), "--listen", "nowhere"}, out, err))
        .isEqualTo(2);
    assertThat(errBytes.toString()).contains("expected ADDR:PORT");
    assertThat(ConfigServerCommand.run(new String[] {"--config"}, out, err)).isEqualTo(2);
  }

  @Test
  void theMonitoringPortServesMetricsLoggingAndQuitquitquit() throws Exception {
    String[] args = {"--config", mesh().toString(), "--state-dir", tmp.resolve("m").toString(),
        "--listen", "127.0.0.1:0"};
    java.util.concurrent.CompletableFuture<Integer> exit = java.util.concurrent.CompletableFuture
        .supplyAsync(() -> ConfigServerCommand.run(args, out, err));
    java.util.regex.Pattern line = java.util.regex.Pattern.compile("monitoring: +http://(\\S+)/metrics");
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    java.util.regex.Matcher m;
    while (!(m = line.matcher(outBytes.toString())).find()) {
      assertThat(System.nanoTime()).as("monitoring line in %s / %s", outBytes, errBytes).isLessThan(deadline);
      assertThat(exit).isNotDone();
      Thread.sleep(20);
    }
    String base = "http://" + m.group(1);
    try (var http = java.net.http.HttpClient.newHttpClient()) {
      var get = (java.util.function.Function<String, java.net.http.HttpResponse<String>>) path -> {
        try {
          return http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(base + path)).build(),
              java.net.http.HttpResponse.BodyHandlers.ofString());
        } catch (Exception e) {
          throw new AssertionError(e);
        }
      };
      var metrics = get.apply("/metrics");
      assertThat(metrics.statusCode()).isEqualTo(200);
      assertThat(metrics.body()).containsPattern("istio_build\\{component=\"pilot\",tag=\"[^\"]+\"} 1")
          .contains("pilot_xds ").contains("pilot_xds_pushes_total").contains("pilot_total_xds_rejects_total")
          .contains("jvm_memory_used_bytes").contains("process_cpu_usage");
      assertThat(get.apply("/").body()).contains("/metrics").contains("/logging").contains("/quitquitquit");
      assertThat(get.apply("/logging").body()).contains("dev.ambientj.config: ");
      // Wait until the SIGTERM wait is in place, then POST /quitquitquit stops the server like it.
      while (!outBytes.toString().contains("Serving;")) {
        assertThat(System.nanoTime()).isLessThan(deadline);
        Thread.sleep(20);
      }
      var quit = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(base + "/quitquitquit"))
          .POST(java.net.http.HttpRequest.BodyPublishers.noBody()).build(),
          java.net.http.HttpResponse.BodyHandlers.ofString());
      assertThat(quit.statusCode()).isEqualTo(200);
    }
    assertThat(exit.get(30, java.util.concurrent.TimeUnit.SECONDS)).as(errBytes.toString()).isZero();
    assertThat(outBytes.toString()).contains("mesh config-server: stopping");
  }

  @Test
  void helpExitsWith0() {
    assertThat(ConfigServerCommand.run(new String[] {"--help"}, out, err)).isEqualTo(0);
    assertThat(outBytes.toString()).contains("--state-dir=DIR").contains("--listen=ADDR:PORT");
  }

  @Test
  void listenAddressesParse() throws Exception {
    assertThat(ConfigServerCommand.Options.address("127.0.0.1:15010"))
        .isEqualTo(new InetSocketAddress(InetAddress.ofLiteral("127.0.0.1"), 15010));
    assertThat(ConfigServerCommand.Options.address("[::1]:0"))
        .isEqualTo(new InetSocketAddress(InetAddress.ofLiteral("::1"), 0));
    var o = ConfigServerCommand.Options.parse(new String[] {"--config=" + mesh(), "--max-cert-ttl", "2h"});
    assertThat(o.maxCertTtl()).isEqualTo(Duration.ofHours(2));
    assertThat(o.stateDir()).isEqualTo(Path.of(".mesh-state"));
    assertThat(o.listen().getPort()).isEqualTo(15010);
  }

  @Test
  void limitFlagsParseAndBadValuesAreUsageErrors() throws Exception {
    var defaults = ConfigServerCommand.Options.parse(new String[] {"--config", mesh().toString()});
    assertThat(defaults.limits()).isEqualTo(ServerLimits.defaults());
    var o = ConfigServerCommand.Options.parse(new String[] {"--config", mesh().toString(),
        "--handshake-timeout", "3s", "--idle-timeout=90s", "--keepalive-min-interval", "1m",
        "--max-connections", "500", "--max-connections-per-client", "20",
        "--max-pending-handshakes", "50", "--max-calls-per-connection", "10",
        "--max-request-bytes", "65536"});
    ServerLimits l = o.limits();
    assertThat(l.handshakeTimeout()).isEqualTo(Duration.ofSeconds(3));
    assertThat(l.idleTimeout()).isEqualTo(Duration.ofSeconds(90));
    assertThat(l.permitKeepAliveTime()).isEqualTo(Duration.ofMinutes(1));
    assertThat(List.of(l.maxConnections(), l.maxConnectionsPerClient(), l.maxPendingHandshakes(),
        l.maxCallsPerConnection(), l.maxRequestBytes())).containsExactly(500, 20, 50, 10, 65536);

    for (String[] bad : List.of(new String[] {"--handshake-timeout", "0s"},
        new String[] {"--idle-timeout", "soon"}, new String[] {"--max-connections", "-1"},
        new String[] {"--max-connections-per-client", "0"},
        new String[] {"--max-request-bytes", "12"}, new String[] {"--max-pending-handshakes"})) {
      outBytes.reset();
      errBytes.reset();
      String[] args = new String[bad.length + 2];
      args[0] = "--config";
      args[1] = mesh().toString();
      System.arraycopy(bad, 0, args, 2, bad.length);
      assertThat(ConfigServerCommand.run(args, out, err)).as(String.join(" ", bad)).isEqualTo(2);
      assertThat(errBytes.toString()).contains(bad[0]);
    }
  }

  @Test
  void theConnectionCapKeepsAQuarterOfTheDescriptorLimitFree() {
    ServerLimits d = ServerLimits.defaults();
    assertThat(d.effectiveMaxConnections(20_000)).isEqualTo(20_000 - 4096);
    assertThat(d.effectiveMaxConnections(1_024)).isEqualTo(1_024 - 256);
    assertThat(d.effectiveMaxConnections(1_048_576)).isEqualTo(ServerLimits.DEFAULT_MAX_CONNECTIONS);
    assertThat(d.effectiveMaxConnections(-1)).isEqualTo(ServerLimits.DEFAULT_MAX_CONNECTIONS);
    ServerLimits asked = d.withCaps(50_000, 256, 1024, 100, 4 << 20);
    assertThat(asked.effectiveMaxConnections(20_000)).as("lowered to the budget")
        .isEqualTo(20_000 - 4096);
    assertThat(asked.effectiveMaxConnections(1_048_576)).isEqualTo(50_000);
  }

  @Test
  void startsPrintsWhereTheCredentialsAreAndServesTheCa() throws Exception {
    Path state = tmp.resolve("state");
    var o =
        ConfigServerCommand.Options.parse(
            new String[] {"--config", mesh().toString(), "--state-dir", state.toString(), "--listen", "127.0.0.1:0"});
    String rootCert;
    try (var running = ConfigServerCommand.Running.start(o, out)) {
      String printed = outBytes.toString();
      assertThat(printed)
          .contains("CA for trust domain cluster.local")
          .contains(state.resolve("root-cert.pem") + " (created now)")
          .contains(state.resolve("node-tokens/node-a.token").toString())
          .contains(state.resolve("node-tokens/node-b.token").toString())
          .contains("listening on:     127.0.0.1:" + running.server().address().getPort());
      rootCert = Files.readString(state.resolve("root-cert.pem"));
      try (CaClient c =
          CaClient.builder("127.0.0.1:" + running.server().address().getPort())
              .tokenFile(state.resolve("node-tokens/node-a.token"))
              .build()) {
        String id = "spiffe://cluster.local/ns/production/sa/api-gateway";
        List<String> chain = c.fetchCertificate(CsrFactory.create(id).csrPem(), null, id).get(20, TimeUnit.SECONDS);
        assertThat(chain).hasSize(2);
        assertThat(chain.get(1)).isEqualTo(rootCert);
      }
    }
    outBytes.reset();
    try (var again = ConfigServerCommand.Running.start(o, out)) {
      assertThat(outBytes.toString())
          .contains(state.resolve("root-cert.pem") + " (reused)")
          .contains("listening on:     127.0.0.1:" + again.server().address().getPort());
      assertThat(Files.readString(state.resolve("root-cert.pem"))).isEqualTo(rootCert);
    }
  }

  private static Path mesh() {
    Path dir = Path.of("").toAbsolutePath();
    while (!Files.isDirectory(dir.resolve("examples"))) {
      dir = dir.getParent();
    }
    return dir.resolve("examples/mesh.yaml");
  }
}
