package dev.ambientj.waypoint;

import dev.ambientj.config.ConfigRejectionMetrics;
import dev.ambientj.config.ConfigRejections;
import dev.ambientj.config.GracefulShutdown;
import dev.ambientj.config.ProxyBootstrap;
import dev.ambientj.config.ProxyFlags;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.cli.MeshCommandLine;
import dev.ambientj.config.cli.MeshVersion;
import dev.ambientj.config.ca.CaClient;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.WaypointRef;
import dev.ambientj.hbone.HboneClientConfig;
import dev.ambientj.hbone.identity.CertificateManager;
import dev.ambientj.hbone.identity.IdentityProvider;
import dev.ambientj.hbone.identity.LocalCertificateAuthority;
import dev.ambientj.hbone.identity.TrustBundle;
import dev.ambientj.hbone.identity.WorkloadCertificate;
import dev.ambientj.hbone.transport.Transport;
import dev.ambientj.waypoint.telemetry.MetricsServer;
import dev.ambientj.waypoint.telemetry.TracingSettings;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.ForkJoinPool;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * Entry point of `./mesh waypoint` (the proxy); {@code mesh waypoint generate|apply|...} are
 * subcommands the launcher adds to it.
 */
@Command(name = "waypoint", mixinStandardHelpOptions = true, sortOptions = false,
    versionProvider = MeshVersion.class, usageHelpAutoWidth = true,
    description = {
        "Runs the waypoint proxy of Gateway NS/NAME (class istio-waypoint): HBONE on its pod"
            + " address, port 15008 (the pod labeled gateway.networking.k8s.io/gateway-name=NAME);"
            + " L7 routing, resilience, authorization and rate limits for the services bound to it;"
            + " Prometheus metrics on port 15020 (/stats/prometheus), with /config_dump (the"
            + " configuration rejections in force)."},
    footerHeading = "%n",
    footer = {
        "Spans (one per request, one per upstream try) go to " + TracingSettings.ZIPKIN_ENV
            + "=URL (Zipkin) and/or " + TracingSettings.OTLP_ENV + "=URL (OTLP/HTTP); new traces"
            + " are sampled at the Telemetry resource's randomSamplingPercentage, else "
            + TracingSettings.SAMPLING_ENV + " (default 1).",
        "SIGTERM drains: readiness 503, no new connections, GOAWAY / Connection: close, requests in"
            + " progress go on until the drain deadline; what is left then is ended and logged with"
            + " response_flags DT. Environment: " + GracefulShutdown.GRACE_ENV + "=S (the pod's"
            + " terminationGracePeriodSeconds) sets the deadline to S - 5 s (S/2 when S <= 5);"
            + " default 5 s."})
public final class WaypointCommand implements Callable<Integer> {
  static final Duration CERTIFICATE_TTL = Duration.ofHours(24);

  @Spec CommandSpec spec;

  @ArgGroup(validate = false, heading = "%nConfig and identity (without --ca-address the waypoint"
      + " signs its own certificate with the local CA of --state-dir):%n", order = 1)
  ProxyFlags flags = new ProxyFlags();

  @ArgGroup(validate = false, heading = "%nWaypoint:%n", order = 2)
  Identity identity = new Identity();

  @ArgGroup(validate = false, heading = "%nLimits and deadlines:%n", order = 3)
  Limits limits = new Limits();

  static final class Identity {
    @Option(names = "--name", paramLabel = "NAME", order = 1, description = "the waypoint's Gateway name")
    String name;

    @Option(names = {"--namespace", "-n"}, paramLabel = "NS", order = 2, description = "its namespace")
    String namespace;

    @Option(names = "--state-dir", paramLabel = "DIR", order = 3,
        description = "where the local CA root is kept, shared with ztunnel (default .mesh-state)")
    Path stateDir = Path.of(".mesh-state");

    @Option(names = "--transport", paramLabel = "KIND", order = 4,
        description = "auto | epoll | io_uring | nio (default auto)")
    String transport = "auto";

    @Option(names = "--address", paramLabel = "IP", order = 5,
        description = "listen here instead of the waypoint pod's address")
    String address;
  }

  static final class Limits {
    @Option(names = "--worker-threads", paramLabel = "N", order = 1,
        converter = MeshCommandLine.PositiveCount.class, description = "event-loop threads (default 2)")
    Integer threads;

    @Option(names = "--stream-buffer-bytes", paramLabel = "N", order = 2,
        converter = MeshCommandLine.PositiveCount.class,
        description = "the most one request or response may make the waypoint hold on each side:"
            + " HTTP/2 stream windows and what waits for a slow client (default 1048576)")
    Integer streamBufferBytes;

    @Option(names = "--request-headers-timeout", paramLabel = "D", order = 3,
        converter = MeshCommandLine.DurationConverter.class,
        description = "first byte to end of an HTTP/1.1 request's headers, then 408 (default 10s;"
            + " 0 disables)")
    Duration requestHeadersTimeout;

    @Option(names = "--idle-timeout", paramLabel = "D", order = 4,
        converter = MeshCommandLine.DurationConverter.class,
        description = "close a client connection with no request in progress (default 1h; 0 disables)")
    Duration idleTimeout;

    @Option(names = "--max-connections", paramLabel = "N", order = 5,
        converter = MeshCommandLine.PositiveCount.class,
        description = "HBONE connections open at once (default: descriptor limit - 1024)")
    Integer maxConnections;

    @Option(names = "--upstream-connect-timeout", paramLabel = "D", order = 6,
        converter = MeshCommandLine.DurationConverter.class,
        description = "TCP connect to an endpoint's 15008 (default 10s)")
    Duration upstreamConnectTimeout;

    @Option(names = "--num-trusted-proxies", paramLabel = "N", order = 7,
        description = "proxies in front whose X-Forwarded-For entries are trusted for remote.ip /"
            + " remoteIpBlocks (Istio's gatewayTopology.numTrustedProxies; default 0: the direct"
            + " client)")
    Integer numTrustedProxies;

    /** The builder with the flags given applied; IllegalArgumentException for a value it refuses. */
    Waypoint.Builder apply(Waypoint.Builder b) {
      if (threads != null) {
        b.threads(threads);
      }
      if (streamBufferBytes != null) {
        b.streamBufferBytes(streamBufferBytes);
      }
      if (requestHeadersTimeout != null) {
        b.requestHeadersTimeout(requestHeadersTimeout);
      }
      if (idleTimeout != null) {
        b.idleTimeout(idleTimeout);
      }
      if (maxConnections != null) {
        b.maxConnections(maxConnections);
      }
      if (numTrustedProxies != null) {
        b.numTrustedProxies(numTrustedProxies);
      }
      return b;
    }
  }

  /** The command line of {@code mesh waypoint} (the proxy). */
  public static CommandLine commandLine() {
    return MeshCommandLine.create(new WaypointCommand(), "waypoint");
  }

  /** Runs the subcommand; returns the process exit code. */
  public static int run(String[] args) {
    return commandLine().execute(args);
  }

  @Override
  @SuppressWarnings("try")
  public Integer call() throws Exception {
    ProxyFlags flags = this.flags != null ? this.flags : new ProxyFlags();
    Identity given = this.identity != null ? this.identity : new Identity();
    Limits l = this.limits != null ? this.limits : new Limits();
    String name = given.name;
    String namespace = given.namespace;
    Path stateDir = given.stateDir;
    String transport = given.transport;
    Waypoint.Builder tuning;
    HboneClientConfig upstream = HboneClientConfig.defaults();
    InetAddress listen;
    try {
      tuning = l.apply(Waypoint.builder());
      if (l.upstreamConnectTimeout != null) {
        upstream = upstream.withConnectTimeout(l.upstreamConnectTimeout);
      }
      listen = given.address == null ? null : InetAddress.ofLiteral(given.address);
      Transport.Kind.parse(transport);
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage());
    }
    if (name == null || namespace == null) {
      throw new ParameterException(spec.commandLine(), "--name NAME and --namespace NS are required");
    }
    try {
      flags.validate();
      tuning.tracing(TracingSettings.fromEnvironment(System.getenv())); // OTEL_EXPORTER_ZIPKIN_ENDPOINT ...
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage());
    }
    var sourceOptions = flags.sourceOptions("waypoint", name, namespace, "",
        stateDir.resolve("xds-cache-waypoint-" + namespace + "-" + name + ".pb"));
    String from = switch (flags.source()) {
      case KUBERNETES -> "the Kubernetes API";
      case XDS -> "xDS from " + flags.xds();
      case FILES -> flags.configs().toString();
    };
    try (ProxyBootstrap proxy = ProxyBootstrap.start("waypoint", flags, sourceOptions)) {
      SnapshotPublisher publisher = proxy.publisher();
      MeshSnapshot snapshot = proxy.snapshot();
      var wp = snapshot.findWaypoint(new WaypointRef(namespace, name));
      if (wp.isEmpty()) {
        System.err.println("mesh waypoint: no Gateway " + namespace + "/" + name
            + " of class istio-waypoint in " + from);
        return 1;
      }
      if (listen == null && wp.get().addresses().isEmpty()) {
        System.err.println("mesh waypoint: waypoint " + namespace + "/" + name + " has no address: add a pod labeled "
            + "gateway.networking.k8s.io/gateway-name=" + name + " with a status.podIP, or pass --address IP");
        return 1;
      }
      InetAddress ip = listen != null ? listen : wp.get().addresses().get(0);
      IdentityProvider identities;
      CaClient ca = proxy.caClient();
      if (ca != null) {
        identities = proxy.own(CertificateManager.create(id -> ca.issue(id.toString(), CERTIFICATE_TTL,
            ForkJoinPool.commonPool()).thenApply(c -> new WorkloadCertificate(id, c.chain(), c.privateKey(),
                TrustBundle.of(c.root())))));
      } else {
        identities = LocalCertificateAuthority.loadOrCreate(stateDir, snapshot.trustDomain())
            .asIdentityProvider(CERTIFICATE_TTL);
      }
      Transport t = Transport.select(Transport.Kind.parse(transport));
      String grace = System.getenv(GracefulShutdown.GRACE_ENV);
      Duration drain = GracefulShutdown.drainDeadline(grace, Waypoint.DEFAULT_DRAIN_DEADLINE);
      Waypoint.Builder builder = tuning.drainDeadline(drain).name(name).namespace(namespace).config(publisher)
          .identityProvider(identities).transport(t).clientConfig(upstream)
          .listenAddress(new InetSocketAddress(ip, Waypoint.HBONE_PORT));
      // SIGTERM: the JVM waits until the waypoint has drained and closed
      ProxyBootstrap.untilSignal("waypoint", Waypoint.shutdownTime(drain).plusSeconds(10), signal -> {
        try (Waypoint waypoint = builder.build().start();
            AutoCloseable rejectionMetrics = ConfigRejectionMetrics.bind(waypoint.metrics(), publisher);
            MetricsServer metrics = MetricsServer.start(new InetSocketAddress(ip, 15020), waypoint.eventLoopGroup(),
                t.serverChannelClass(), waypoint.metrics(),
                () -> ConfigRejections.json(publisher.snapshot()), waypoint::ready)) {
          waypoint.configProblems().forEach(p -> System.err.println("mesh waypoint: warning: " + p));
          System.err.println("mesh waypoint: " + namespace + "/" + name + " serving HBONE on "
              + io.netty.util.NetUtil.toSocketAddressString(waypoint.address()) + " as " + waypoint.identity()
              + "; metrics http://" + io.netty.util.NetUtil.toSocketAddressString(metrics.address())
              + "/stats/prometheus, config dump http://"
              + io.netty.util.NetUtil.toSocketAddressString(metrics.address()) + "/config_dump"
              + "; drain deadline " + drain.toMillis() / 1000.0 + " s"
              + (grace == null || grace.isBlank() ? "" : " (" + GracefulShutdown.GRACE_ENV + "=" + grace.strip() + ")")
              + "; Ctrl-C to stop");
          signal.await();
          System.err.println("mesh waypoint: shutting down: not ready, not accepting; draining requests in progress");
          waypoint.drain(); // readiness (503) and metrics stay up while it drains; then all is closed
          System.err.println("mesh waypoint: drained; closing");
        }
      });
      return 0;
    }
  }
}
