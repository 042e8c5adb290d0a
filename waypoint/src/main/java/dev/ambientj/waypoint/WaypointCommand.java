package dev.ambientj.waypoint;

import dev.ambientj.config.ConfigRejectionMetrics;
import dev.ambientj.config.ConfigRejections;
import dev.ambientj.config.GracefulShutdown;
import dev.ambientj.config.ProxyFlags;
import dev.ambientj.config.SnapshotPublisher;
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
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ForkJoinPool;

/** Entry point of `./mesh waypoint`. */
public final class WaypointCommand {
  static final Duration CERTIFICATE_TTL = Duration.ofHours(24);

  private WaypointCommand() {}

  /** Runs the subcommand; returns the process exit code. */
  @SuppressWarnings("try")
  public static int run(String[] args) {
    ProxyFlags flags = ProxyFlags.forProxy();
    String name = null;
    String namespace = null;
    Path stateDir = Path.of(".mesh-state");
    String transport = "auto";
    InetAddress listen = null;
    Waypoint.Builder tuning = Waypoint.builder();
    HboneClientConfig upstream = HboneClientConfig.defaults();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      try {
        int used = flags.accept(args, i);
        if (used >= 0) {
          i = used;
          continue;
        }
        switch (a) {
          case "--help", "-h" -> {
            usage(System.out);
            return 0;
          }
          case "--name" -> name = args[++i];
          case "--namespace", "-n" -> namespace = args[++i];
          case "--state-dir" -> stateDir = Path.of(args[++i]);
          case "--transport" -> transport = args[++i];
          case "--address" -> listen = InetAddress.ofLiteral(args[++i]);
          case "--worker-threads" -> tuning.threads(positive(args[++i]));
          case "--stream-buffer-bytes" -> tuning.streamBufferBytes(positive(args[++i]));
          case "--request-headers-timeout" -> tuning.requestHeadersTimeout(duration(args[++i]));
          case "--idle-timeout" -> tuning.idleTimeout(duration(args[++i]));
          case "--max-connections" -> tuning.maxConnections(positive(args[++i]));
          case "--num-trusted-proxies" -> tuning.numTrustedProxies(Integer.parseInt(args[++i]));
          case "--upstream-connect-timeout" -> upstream = upstream.withConnectTimeout(duration(args[++i]));
          default -> {
            System.err.println("mesh waypoint: unknown flag '" + a + "'");
            usage(System.err);
            return 2;
          }
        }
      } catch (ArrayIndexOutOfBoundsException e) {
        System.err.println("mesh waypoint: " + a + " needs a value");
        usage(System.err);
        return 2;
      } catch (IllegalArgumentException e) {
        System.err.println("mesh waypoint: " + (e.getMessage().startsWith(a) ? "" : a + ": ")
            + e.getMessage());
        return 2;
      }
    }
    if (name == null || namespace == null) {
      System.err.println("mesh waypoint: --name NAME and --namespace NS are required");
      usage(System.err);
      return 2;
    }
    try {
      flags.validate();
      tuning.tracing(TracingSettings.fromEnvironment(System.getenv())); // OTEL_EXPORTER_ZIPKIN_ENDPOINT ...
    } catch (IllegalArgumentException e) {
      System.err.println("mesh waypoint: " + e.getMessage());
      usage(System.err);
      return 2;
    }
    SnapshotPublisher publisher = new SnapshotPublisher();
    var sourceOptions = flags.sourceOptions("waypoint", name, namespace, "",
        stateDir.resolve("xds-cache-waypoint-" + namespace + "-" + name + ".pb"));
    String from = switch (flags.source()) {
      case KUBERNETES -> "the Kubernetes API";
      case XDS -> "xDS from " + flags.xds();
      case FILES -> flags.configs().toString();
    };
    CertificateManager fromCa = null;
    CaClient caClient = null;
    try (AutoCloseable ignored = flags.startSource(sourceOptions, publisher)) {
      MeshSnapshot snapshot = publisher.snapshot();
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
      if (flags.caAddress() != null) {
        CaClient ca = caClient = flags.caClient();
        fromCa = CertificateManager.create(id -> ca.issue(id.toString(), CERTIFICATE_TTL, ForkJoinPool.commonPool())
            .thenApply(c -> new WorkloadCertificate(id, c.chain(), c.privateKey(), TrustBundle.of(c.root()))));
        identities = fromCa;
        System.err.println("mesh waypoint: certificate from the CA at " + flags.caAddress()
            + (flags.tls() ? " (TLS)" : ""));
      } else {
        identities = LocalCertificateAuthority.loadOrCreate(stateDir, snapshot.trustDomain())
            .asIdentityProvider(CERTIFICATE_TTL);
      }
      Transport t = Transport.select(Transport.Kind.parse(transport));
      String grace = System.getenv(GracefulShutdown.GRACE_ENV);
      Duration drain = GracefulShutdown.drainDeadline(grace, Waypoint.DEFAULT_DRAIN_DEADLINE);
      tuning.drainDeadline(drain);
      // SIGTERM: the JVM waits until the waypoint has drained and closed (finished() below)
      GracefulShutdown signal = GracefulShutdown.install("waypoint", Waypoint.shutdownTime(drain).plusSeconds(10));
      try (Waypoint waypoint = tuning.name(name).namespace(namespace).config(publisher)
              .identityProvider(identities).transport(t).clientConfig(upstream)
              .listenAddress(new InetSocketAddress(ip, Waypoint.HBONE_PORT)).build().start();
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
        signal.awaitSignal();
        System.err.println("mesh waypoint: shutting down: not ready, not accepting; draining requests in progress");
        waypoint.drain(); // readiness (503) and metrics stay up while it drains; then all is closed
        System.err.println("mesh waypoint: drained; closing");
      } finally {
        signal.finished();
      }
      return 0;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return 1;
    } catch (Exception e) {
      System.err.println("mesh waypoint: " + e.getMessage());
      return 1;
    } finally {
      if (fromCa != null) {
        fromCa.close();
      }
      if (caClient != null) {
        caClient.close();
      }
    }
  }

  private static int positive(String v) {
    int n = Integer.parseInt(v);
    if (n < 1) {
      throw new IllegalArgumentException("must be at least 1, got " + v);
    }
    return n;
  }

  /** {@code 0}, {@code 250ms}, {@code 10s}, {@code 5m}, {@code 1h}, {@code 1h30m}. */
  static Duration duration(String v) {
    String s = v.trim().toLowerCase(java.util.Locale.ROOT);
    if (s.equals("0")) {
      return Duration.ZERO;
    }
    if (s.endsWith("ms")) {
      return Duration.ofMillis(Long.parseLong(s.substring(0, s.length() - 2)));
    }
    try {
      return Duration.parse("PT" + s.toUpperCase(java.util.Locale.ROOT));
    } catch (java.time.format.DateTimeParseException e) {
      throw new IllegalArgumentException("'" + v + "' is not a duration (e.g. 0, 500ms, 10s, 5m, 1h)");
    }
  }

  static void usage(PrintStream out) {
    out.println("usage: mesh waypoint (--config FILE [--config FILE...] | --xds HOST:PORT | --kubernetes)");
    out.println("                     --name NAME --namespace NS [flags]");
    out.println();
    out.println("Runs the waypoint proxy of Gateway NS/NAME (class istio-waypoint): HBONE on its pod");
    out.println("address, port 15008 (the pod labeled gateway.networking.k8s.io/gateway-name=NAME);");
    out.println("L7 routing, resilience, authorization and rate limits for the services bound to it;");
    out.println("Prometheus metrics on port 15020 (/stats/prometheus), with /config_dump (the");
    out.println("configuration rejections in force).");
    out.println();
    out.print(ProxyFlags.forProxy().help());
    out.println("                       Without --ca-address the waypoint signs its own certificate");
    out.println("                       with the local CA of --state-dir.");
    out.println("  --name NAME          the waypoint's Gateway name");
    out.println("  --namespace NS       its namespace");
    out.println("  --state-dir DIR      where the local CA root is kept, shared with ztunnel (default .mesh-state)");
    out.println("  --transport KIND     auto | epoll | io_uring | nio (default auto)");
    out.println("  --address IP         listen here instead of the waypoint pod's address");
    out.println("  --worker-threads N   event-loop threads (default 2)");
    out.println("  --stream-buffer-bytes N  the most one request or response may make the waypoint hold on each");
    out.println("                       side: HTTP/2 stream windows and what waits for a slow client (default 1048576)");
    out.println("  --request-headers-timeout D  first byte to end of an HTTP/1.1 request's headers, then 408");
    out.println("                       (default 10s; 0 disables)");
    out.println("  --idle-timeout D     close a client connection with no request in progress (default 1h; 0 disables)");
    out.println("  --max-connections N  HBONE connections open at once (default: descriptor limit - 1024)");
    out.println("  --upstream-connect-timeout D  TCP connect to an endpoint's 15008 (default 10s)");
    out.println("  --num-trusted-proxies N  proxies in front whose X-Forwarded-For entries are trusted for");
    out.println("                       remote.ip / remoteIpBlocks (Istio's gatewayTopology.numTrustedProxies;");
    out.println("                       default 0: the direct client)");
    out.println("  --help               this message");
    out.println("Spans (one per request, one per upstream try) go to " + TracingSettings.ZIPKIN_ENV + "=URL (Zipkin)");
    out.println("and/or " + TracingSettings.OTLP_ENV + "=URL (OTLP/HTTP); new traces are sampled at the Telemetry");
    out.println("resource's randomSamplingPercentage, else " + TracingSettings.SAMPLING_ENV + " (default 1).");
    out.println("SIGTERM drains: readiness 503, no new connections, GOAWAY / Connection: close, requests in");
    out.println("progress go on until the drain deadline; what is left then is ended and logged with");
    out.println("response_flags DT. Environment: " + GracefulShutdown.GRACE_ENV + "=S (the pod's");
    out.println("terminationGracePeriodSeconds) sets the deadline to S - 5 s (S/2 when S <= 5); default "
        + Waypoint.DEFAULT_DRAIN_DEADLINE.toSeconds() + " s.");
  }
}
