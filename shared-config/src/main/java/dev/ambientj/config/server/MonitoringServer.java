package dev.ambientj.config.server;

import dev.ambientj.config.ProcessMetrics;
import dev.ambientj.config.xds.XdsServer;
import dev.ambientj.hbone.admin.AdminEndpoint;
import dev.ambientj.hbone.admin.AdminResponse;
import dev.ambientj.hbone.admin.AdminServer;
import dev.ambientj.hbone.admin.LogLevels;
import dev.ambientj.hbone.admin.OperatorEndpoints;
import dev.ambientj.hbone.transport.AcceptBackoff;
import dev.ambientj.hbone.transport.Transport;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The config server's monitoring port, as istiod's 15014: Prometheus metrics on {@code /metrics}
 * ({@code istio_build{component="pilot"}}, the JVM and the process, and istiod's xDS figures:
 * {@code pilot_xds} proxies connected, {@code pilot_xds_pushes_total},
 * {@code pilot_total_xds_rejects_total}), and the operator's paths every ambientj admin port has
 * ({@code /}, {@code /logging}, {@code POST /quitquitquit}, which starts the same stop as SIGTERM).
 *
 * <p>One event-loop thread of its own (the gRPC servers keep theirs); capped like the proxies'
 * admin ports.
 */
public final class MonitoringServer implements AutoCloseable {
  /** istiod's monitoring port. */
  public static final int PORT = 15014;

  private static final int MAX_CONNECTIONS = 64;
  private static final List<String> LOG_SCOPES = List.of("dev.ambientj.config", "io.grpc", "io.netty");

  private final EventLoopGroup group;
  private final AdminServer server;
  private final AutoCloseable processMetrics;

  private MonitoringServer(EventLoopGroup group, AdminServer server, AutoCloseable processMetrics) {
    this.group = group;
    this.server = server;
    this.processMetrics = processMetrics;
  }

  /**
   * Binds {@code address} and serves until {@link #close}.
   *
   * @param quit what {@code POST /quitquitquit} starts
   * @throws IllegalStateException naming the address when it cannot be bound
   */
  public static MonitoringServer start(InetSocketAddress address, XdsServer xds, Runnable quit)
      throws InterruptedException {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    AutoCloseable processMetrics = ProcessMetrics.bind(registry, ProcessMetrics.PILOT);
    Gauge.builder("pilot.xds", xds, x -> x.syncStatus().size())
        .description("Number of endpoints connected to this pilot using XDS").register(registry);
    FunctionCounter.builder("pilot.xds.pushes", xds, XdsServer::pushCount)
        .description("Pilot build and send errors for lds, rds, cds and eds.").register(registry);
    FunctionCounter.builder("pilot.total.xds.rejects", xds, XdsServer::nackCount)
        .description("Total number of XDS responses from pilot rejected by proxy.").register(registry);
    Counter refused = Counter.builder("ambientj.admin.connections.refused")
        .tag("listener", "monitoring").register(registry);
    Transport transport = Transport.select(Transport.Kind.AUTO);
    EventLoopGroup group = transport.newEventLoopGroup(1, "config-server-monitoring");
    try {
      Map<String, AdminEndpoint> paths = new LinkedHashMap<>();
      paths.put("/metrics", q -> AdminResponse.text(200, registry.scrape()));
      paths.put("/stats/prometheus", q -> AdminResponse.text(200, registry.scrape()));
      Map<String, String> described = Map.of(
          "/metrics", "Prometheus metrics (istio_build, pilot_xds*, JVM and process)",
          "/stats/prometheus", "the same");
      AdminServer server = AdminServer.start(group, transport.serverChannelClass(), address,
          OperatorEndpoints.with("ambientj config server monitoring", paths, described,
              LogLevels.ofThisProcess(LOG_SCOPES), quit),
          new AdminServer.Guard(MAX_CONNECTIONS, new AcceptBackoff("config-server monitoring"),
              limit -> refused.increment()));
      return new MonitoringServer(group, server, processMetrics);
    } catch (InterruptedException | RuntimeException e) {
      group.shutdownGracefully();
      closeQuietly(processMetrics);
      throw e;
    }
  }

  /** The bound address (the real port when 0 was asked for). */
  public InetSocketAddress address() {
    return server.address();
  }

  @Override
  public void close() {
    server.close();
    group.shutdownGracefully();
    closeQuietly(processMetrics);
  }

  private static void closeQuietly(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception e) {
      // closing anyway
    }
  }
}
