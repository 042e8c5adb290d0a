package dev.ambientj.waypoint.telemetry;

import dev.ambientj.config.GracefulShutdown;
import dev.ambientj.hbone.admin.AdminEndpoint;
import dev.ambientj.hbone.admin.AdminResponse;
import dev.ambientj.hbone.admin.AdminServer;
import dev.ambientj.hbone.admin.LogLevels;
import dev.ambientj.hbone.admin.OperatorEndpoints;
import dev.ambientj.hbone.transport.AcceptBackoff;
import io.micrometer.core.instrument.Counter;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import java.net.InetSocketAddress;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The waypoint's metrics and admin port (15020), on the same server as ztunnel's node ports
 * ({@link AdminServer}: connection cap, request deadline, accept back-off):
 *
 * <ul>
 *   <li>{@code /stats/prometheus} and {@code /metrics}: Prometheus text, as the waypoint's Envoy;
 *   <li>{@code /healthz/ready}: 200 while {@code ready} says so, 503 otherwise (not started yet,
 *       or draining at shutdown);
 *   <li>{@code /config_dump} when given (JSON: the configuration rejections and warnings in force);
 *   <li>{@code /} (index), {@code /logging} and {@code POST /quitquitquit} ({@link
 *       OperatorEndpoints}).
 * </ul>
 *
 * <p>Connections beyond {@link #MAX_CONNECTIONS} are reset and counted in {@code
 * ambientj_admin_connections_refused_total{listener="waypoint-metrics"}}.
 */
public final class MetricsServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(MetricsServer.class);

  /** Connections at once on this port (Prometheus and the kubelet need one or two). */
  public static final int MAX_CONNECTIONS = 64;

  /** The logger scopes {@code /logging} lists for a waypoint. */
  static final List<String> LOG_SCOPES = List.of("dev.ambientj.waypoint", "dev.ambientj.hbone",
      "dev.ambientj.config", "io.netty", "io.grpc", "io.fabric8");

  private final AdminServer server;

  private MetricsServer(AdminServer server) {
    this.server = server;
  }

  public static MetricsServer start(InetSocketAddress address, EventLoopGroup group,
      Class<? extends ServerChannel> channelClass, PrometheusMeterRegistry registry) throws InterruptedException {
    return start(address, group, channelClass, registry, null);
  }

  /** As above, with {@code /config_dump} answered by {@code configDump} (null: not served). */
  public static MetricsServer start(InetSocketAddress address, EventLoopGroup group,
      Class<? extends ServerChannel> channelClass, PrometheusMeterRegistry registry,
      Supplier<String> configDump) throws InterruptedException {
    return start(address, group, channelClass, registry, configDump, () -> true);
  }

  /**
   * As above, with {@code /healthz/ready} answering {@code 200} only while {@code ready} says so;
   * {@code POST /quitquitquit} starts the process's SIGTERM drain ({@link
   * GracefulShutdown#requestDrain()}).
   */
  public static MetricsServer start(InetSocketAddress address, EventLoopGroup group,
      Class<? extends ServerChannel> channelClass, PrometheusMeterRegistry registry,
      Supplier<String> configDump, BooleanSupplier ready) throws InterruptedException {
    return start(address, group, channelClass, registry, configDump, ready, MetricsServer::quit);
  }

  /** As above, with {@code POST /quitquitquit} running {@code quit} (on its own thread). */
  public static MetricsServer start(InetSocketAddress address, EventLoopGroup group,
      Class<? extends ServerChannel> channelClass, PrometheusMeterRegistry registry,
      Supplier<String> configDump, BooleanSupplier ready, Runnable quit) throws InterruptedException {
    Map<String, AdminEndpoint> paths = new LinkedHashMap<>();
    AdminEndpoint scrape = q -> new AdminResponse(200, "text/plain; version=0.0.4; charset=utf-8",
        registry.scrape());
    paths.put("/stats/prometheus", scrape);
    paths.put("/metrics", scrape);
    if (configDump != null) {
      paths.put("/config_dump", q -> AdminResponse.json(configDump.get()));
    }
    paths.put("/healthz/ready", q -> ready.getAsBoolean() ? AdminResponse.text(200, "")
        : AdminResponse.text(503, "not ready\n"));
    Map<String, String> described = Map.of(
        "/stats/prometheus", "metrics (Prometheus text)",
        "/metrics", "metrics (Prometheus text)",
        "/config_dump", "configuration rejections and warnings in force (JSON)",
        "/healthz/ready", "200 while serving, 503 before and while draining");
    Counter refused = Counter.builder("ambientj.admin.connections.refused")
        .description("admin/metrics connections reset because the server's cap was reached")
        .tag("listener", "waypoint-metrics").register(registry);
    AdminServer server = AdminServer.start(group, channelClass, address,
        OperatorEndpoints.with("ambientj waypoint admin", paths, described,
            LogLevels.ofThisProcess(LOG_SCOPES), quit),
        new AdminServer.Guard(MAX_CONNECTIONS, new AcceptBackoff("waypoint metrics"),
            limit -> refused.increment()));
    return new MetricsServer(server);
  }

  /** The default {@code /quitquitquit}: the process's SIGTERM drain, if it has one. */
  private static void quit() {
    if (GracefulShutdown.requestDrain()) {
      log.info("waypoint: /quitquitquit: shutting down as on SIGTERM");
    } else {
      log.warn("waypoint: /quitquitquit: this process has no SIGTERM drain (embedded waypoint);"
          + " nothing to do");
    }
  }

  public InetSocketAddress address() {
    return server.address();
  }

  @Override
  public void close() {
    server.close();
  }
}
