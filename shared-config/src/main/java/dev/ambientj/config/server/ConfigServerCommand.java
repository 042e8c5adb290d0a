package dev.ambientj.config.server;

import dev.ambientj.config.FileConfigSource;
import dev.ambientj.config.GracefulShutdown;
import dev.ambientj.config.ProxyBootstrap;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.cli.MeshCommandLine;
import dev.ambientj.config.ca.BearerAuthentication;
import dev.ambientj.config.ca.CaStateDirectory;
import dev.ambientj.config.ca.CallerAuthenticator;
import dev.ambientj.config.ca.CertificateAuthority;
import dev.ambientj.config.ca.ControlPlaneTls;
import dev.ambientj.config.ca.IstioCertificateServiceImpl;
import dev.ambientj.config.ca.KubernetesCaRoot;
import dev.ambientj.config.ca.KubernetesTokenAuthenticator;
import dev.ambientj.config.ca.NodeTokenAuthenticator;
import dev.ambientj.config.ca.NodeTokens;
import dev.ambientj.config.kubernetes.ApiOutage;
import dev.ambientj.config.kubernetes.ApiRetry;
import dev.ambientj.config.kubernetes.KubernetesConfigSource;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Node;
import dev.ambientj.config.server.waypoint.WaypointController;
import dev.ambientj.config.server.waypoint.WaypointSettings;
import dev.ambientj.config.xds.XdsServer;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;

/**
 * Entry point of {@code ./mesh config-server}: loads the mesh from files or watches it in a
 * Kubernetes cluster ({@code --kubernetes}, see {@link KubernetesConfigSource}), keeps the CA's
 * state in a directory, issues node tokens (one per Node object), and serves the CA and delta xDS
 * ({@link XdsServer}) over gRPC until SIGTERM or Ctrl-C.
 *
 * <p>Exit codes: 0 for {@code --help}; 1 when the state directory, the configuration or the listen
 * address cannot be used; 2 on a usage error. On SIGTERM/SIGINT a shutdown hook stops the server
 * gracefully and the process ends with the JVM's signal status (143/130).
 *
 * <p>With {@code --kubernetes}, a slow or absent API server is not a reason to exit: the mesh's
 * informers, the CA root's Secret and ConfigMap, and the waypoint controller's start are retried
 * with {@link ApiRetry}'s back-off, logged once per outage, for as long as it takes. The server
 * listens only once all of it is done — so the Deployment's readiness probe (a TCP connect to
 * 15012) fails until the mesh is listed and the CA can sign, and no proxy is served an empty or
 * partial mesh meanwhile (they keep their last one).
 */
public final class ConfigServerCommand {
  private static final Logger log = LoggerFactory.getLogger(ConfigServerCommand.class);

  static final String DEFAULT_STATE_DIR = ".mesh-state";
  /** How long the JVM waits, after SIGTERM, for the servers to close. */
  private static final Duration STOP_WAIT = Duration.ofSeconds(10);
  static final String DEFAULT_LISTEN = "127.0.0.1:" + ConfigServer.PLAINTEXT_PORT;
  static final String DEFAULT_NAMESPACE = "ambientj-system";
  /** Istio's CA_TRUSTED_NODE_ACCOUNTS default is istio-system/ztunnel; ours lives beside us. */
  static final String DEFAULT_NODE_ACCOUNT = "ztunnel";

  private ConfigServerCommand() {}

  /** Runs the subcommand; returns the process exit code. */
  public static int run(String[] args) {
    return run(args, System.out, System.err);
  }

  /**
   * Starts what {@code mesh config-server ARGS} serves and returns it running, without the
   * shutdown hook or the waypoint controller: for embedding (tests, the demo). {@link
   * Running#close} stops it.
   *
   * @throws IllegalArgumentException on a usage error or {@code --help} (the message says which)
   * @throws IOException when the state directory, the configuration or an address cannot be used
   */
  public static Running start(String[] args, PrintStream out) throws IOException {
    Options o;
    try {
      o = Options.parse(args);
    } catch (UsageException e) {
      throw new IllegalArgumentException(e.getMessage(), e);
    }
    if (o == null) {
      throw new IllegalArgumentException("--help asks for no server");
    }
    return Running.start(o, out);
  }

  /** Runs the server by hand: {@code java -cp ... dev.ambientj.config.server.ConfigServerCommand}. */
  public static void main(String[] args) {
    System.exit(run(args));
  }

  /** The command line of {@code mesh config-server}, printing to stdout and stderr. */
  public static CommandLine commandLine() {
    return commandLine(System.out, System.err);
  }

  private static CommandLine commandLine(PrintStream out, PrintStream err) {
    return MeshCommandLine.create(new ConfigServerFlags(out, err), "config-server")
        .setOut(new PrintWriter(out, true)).setErr(new PrintWriter(err, true));
  }

  static int run(String[] args, PrintStream out, PrintStream err) {
    return commandLine(out, err).execute(args);
  }

  /** Serves what the flags say until SIGTERM; returns the exit code. */
  static int serve(Options o, PrintStream out, PrintStream err) {
    Running running;
    try {
      running = Running.start(o, out);
    } catch (IOException | UncheckedIOException | IllegalArgumentException | IllegalStateException
        | io.fabric8.kubernetes.client.KubernetesClientException e) {
      err.println("mesh config-server: " + e.getMessage());
      return 1;
    }
    AutoCloseable waypoints = null;
    if (o.waypointController()) {
      try {
        waypoints = startWaypointController(out, running);
      } catch (IOException | RuntimeException e) {
        err.println("mesh config-server: waypoint controller: " + e.getMessage());
        running.close();
        return 1;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        running.close();
        return 1;
      }
    }
    MonitoringServer monitoring = null;
    try {
      monitoring = MonitoringServer.start(o.monitoringAddress(), running.xds(),
          () -> GracefulShutdown.requestDrain());
      out.println("  monitoring:       http://" + ConfigServer.format(monitoring.address())
          + "/metrics (Prometheus), /logging, POST /quitquitquit");
    } catch (IllegalStateException e) {
      if (o.monitoring() != null) { // asked for: it must be there
        err.println("mesh config-server: --monitoring-address: " + e.getMessage());
        closeQuietly(waypoints);
        running.close();
        return 1;
      }
      err.println("mesh config-server: warning: no monitoring port: " + e.getMessage()
          + " (give another with --monitoring-address)");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      closeQuietly(waypoints);
      running.close();
      return 1;
    }
    AutoCloseable controller = waypoints;
    AutoCloseable metrics = monitoring;
    try {
      // SIGTERM/SIGINT: the JVM exits once the servers are closed (at most STOP_WAIT)
      ProxyBootstrap.untilSignal("config-server", STOP_WAIT, signal -> {
        try {
          out.println("Serving; Ctrl-C or SIGTERM stops it.");
          out.flush();
          signal.await();
          out.println("mesh config-server: stopping");
        } finally {
          closeQuietly(controller);
          running.close();
          closeQuietly(metrics);
        }
      });
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (Exception e) {
      err.println("mesh config-server: " + e.getMessage());
      return 1;
    }
    return 0;
  }

  /**
   * Starts {@code dev.ambientj.config.server.waypoint.WaypointController} against the cluster,
   * retrying its first list while the API fails transiently.
   */
  private static AutoCloseable startWaypointController(PrintStream out, Running running)
      throws IOException, InterruptedException {
    WaypointSettings settings = WaypointSettings.fromEnv(System.getenv());
    KubernetesClient client = new KubernetesClientBuilder().build();
    try {
      ApiOutage outage = new ApiOutage(log, "Kubernetes API at " + client.getMasterUrl(),
          "no waypoint deployed until it answers");
      WaypointController c = ApiRetry.DEFAULT.call(outage, "waypoint controller: list Gateways"
          + " and Deployments", () -> {
            WaypointController attempt = new WaypointController(client, settings,
                () -> running.state().roots().trustBundlePem());
            try {
              return attempt.start();
            } catch (RuntimeException e) {
              attempt.close();
              throw e;
            }
          });
      out.println("  waypoints:        deploying Gateways of class " + WaypointController.GATEWAY_CLASS
          + " at " + client.getMasterUrl() + " (image " + settings.image() + ")");
      return () -> {
        c.close();
        client.close();
      };
    } catch (IOException | InterruptedException | RuntimeException e) {
      client.close();
      throw e;
    }
  }

  private static void closeQuietly(AutoCloseable c) {
    if (c == null) {
      return;
    }
    try {
      c.close();
    } catch (Exception e) {
      // stopping anyway
    }
  }

  /** Parsed flags; {@code null} from {@link #parse} means {@code --help}. */
  record Options(
      List<Path> configs,
      boolean kubernetes,
      Path stateDir,
      InetSocketAddress listen,
      Duration maxCertTtl,
      boolean waypointController,
      InetSocketAddress listenTls,
      List<String> tlsServerNames,
      String namespace,
      List<String> trustedNodeAccounts,
      ServerLimits limits,
      InetSocketAddress monitoring) {

    /**
     * Where the monitoring port listens: {@code --monitoring-address}, else the plaintext
     * listener's host on {@value MonitoringServer#PORT} (port 0 when that listener's is 0).
     */
    InetSocketAddress monitoringAddress() {
      return monitoring != null ? monitoring
          : new InetSocketAddress(listen.getAddress(), listen.getPort() == 0 ? 0 : MonitoringServer.PORT);
    }
    static Options parse(String[] args) throws UsageException {
      ConfigServerFlags flags = new ConfigServerFlags(System.out, System.err);
      try {
        CommandLine.ParseResult parsed = new CommandLine(flags).parseArgs(args);
        return parsed.isUsageHelpRequested() || parsed.isVersionHelpRequested() ? null : flags.options();
      } catch (CommandLine.ParameterException e) {
        throw new UsageException(e.getMessage());
      }
    }

    static InetSocketAddress address(String v) throws UsageException {
      try {
        return new ConfigServerFlags.Address().convert(v);
      } catch (CommandLine.TypeConversionException e) {
        throw new UsageException("--listen " + e.getMessage());
      }
    }
  }

  static final class UsageException extends Exception {
    private static final long serialVersionUID = 1L;

    UsageException(String message) {
      super(message);
    }
  }

  /** A started server with everything it holds; {@link #close} stops all of it. */
  public record Running(
      ConfigServer server,
      ConfigServer tlsServer,
      AutoCloseable source,
      AutoCloseable tokenSubscription,
      CaStateDirectory state,
      NodeTokens tokens,
      SnapshotPublisher publisher,
      XdsServer xds,
      ConnectionGuard guard)
      implements AutoCloseable {

    /**
     * Starts the server; in Kubernetes mode with a client built from the environment (kubeconfig
     * or in-cluster), closed with the server.
     */
    static Running start(Options o, PrintStream out) throws IOException {
      if (!o.kubernetes()) {
        return start(o, out, null);
      }
      KubernetesClient client = new KubernetesClientBuilder().build();
      try {
        Running r = start(o, out, client);
        return new Running(r.server(), r.tlsServer(), closingBoth(r.source(), client),
            r.tokenSubscription(), r.state(), r.tokens(), r.publisher(), r.xds(), r.guard());
      } catch (IOException | RuntimeException e) {
        client.close();
        throw e;
      }
    }

    /**
     * Starts the server; in Kubernetes mode ({@link Options#kubernetes()}) it watches the cluster
     * of {@code client}, which stays the caller's to close.
     */
    static Running start(Options o, PrintStream out, KubernetesClient client) throws IOException {
      SnapshotPublisher publisher = new SnapshotPublisher();
      AutoCloseable source;
      if (o.kubernetes()) {
        if (client == null) {
          throw new IllegalArgumentException("Kubernetes mode needs a client");
        }
        KubernetesConfigSource k = KubernetesConfigSource.open(client, publisher);
        out.println("mesh config-server: listing the mesh at " + client.getMasterUrl()
            + "; listening once every kind is listed");
        out.flush();
        awaitSynced(k);
        out.println("mesh config-server: watching the mesh at " + client.getMasterUrl()
            + (k.missingResources().isEmpty() ? ""
                : " (not served, left out: " + k.missingResources() + ")"));
        source = k;
      } else {
        source = FileConfigSource.start(o.configs(), publisher);
      }
      try {
        MeshSnapshot snapshot = publisher.snapshot();
        String namespace = o.kubernetes() ? namespace(o, client) : null;
        ApiOutage caOutage = o.kubernetes() ? new ApiOutage(log, "Kubernetes API at "
            + client.getMasterUrl(), "not listening until the CA root is read") : null;
        CaStateDirectory state = o.kubernetes()
            ? retrying(caOutage, "read or create Secret " + namespace + "/" + KubernetesCaRoot.SECRET,
                () -> KubernetesCaRoot.open(client, namespace, o.stateDir(), snapshot.trustDomain()))
            : CaStateDirectory.open(o.stateDir(), snapshot.trustDomain());
        if (o.kubernetes()) {
          retrying(caOutage, "publish ConfigMap " + namespace + "/" + KubernetesCaRoot.CONFIG_MAP,
              () -> KubernetesCaRoot.publish(client, namespace, state.roots().trustBundlePem(), null));
          out.println("mesh config-server: CA root kept in Secret " + namespace + "/"
              + KubernetesCaRoot.SECRET + ", its certificate published in ConfigMap " + namespace
              + "/" + KubernetesCaRoot.CONFIG_MAP);
        }
        NodeTokens tokens = NodeTokens.open(state.nodeTokensDirectory());
        AutoCloseable subscription = publisher.subscribe(tokens);
        CertificateAuthority ca = CertificateAuthority.of(state, o.maxCertTtl());
        XdsServer xds = XdsServer.builder(publisher).build();
        IstioCertificateServiceImpl caService = new IstioCertificateServiceImpl(ca, publisher);
        List<CallerAuthenticator> authenticators = new ArrayList<>();
        authenticators.add(new NodeTokenAuthenticator(tokens)); // local and cheap: first
        String expected = NodeTokenAuthenticator.EXPECTED;
        if (o.kubernetes()) {
          Set<String> trusted = o.trustedNodeAccounts().isEmpty()
              ? Set.of(namespace + "/" + DEFAULT_NODE_ACCOUNT) : Set.copyOf(o.trustedNodeAccounts());
          authenticators.add(new KubernetesTokenAuthenticator(client,
              () -> publisher.snapshot().trustDomain(), trusted,
              KubernetesTokenAuthenticator.DEFAULT_CACHE_FOR));
          expected = KubernetesTokenAuthenticator.EXPECTED + ", or " + expected;
        }
        BearerAuthentication authentication = new BearerAuthentication(authenticators, expected);
        // One guard for both listeners: one connection cap within the process's descriptors.
        ConnectionGuard guard = ConnectionGuard.start(o.limits());
        ConfigServer server;
        try {
          server = ConfigServer.builder(o.listen())
              .guard(guard)
              .interceptor(authentication)
              .service(caService)
              .service(xds)
              .start();
        } catch (IOException | RuntimeException e) {
          xds.close();
          guard.close();
          throw e;
        }
        ConfigServer tlsServer = null;
        if (o.listenTls() != null) {
          try {
            tlsServer = ConfigServer.builder(o.listenTls())
                .guard(guard)
                .tls(ControlPlaneTls.server(ca, o.listenTls().getAddress(), o.tlsServerNames()))
                // authentication first: ClientCertificates lets an authenticated caller through
                .interceptor(authentication)
                .interceptor(new ClientCertificates(Set.of(AggregatedDiscoveryServiceGrpc.SERVICE_NAME)))
                .service(caService)
                .service(xds)
                .start();
          } catch (IOException | RuntimeException e) {
            xds.close();
            server.close();
            guard.close();
            throw e;
          }
        }
        Running r = new Running(server, tlsServer, source, subscription, state, tokens, publisher,
            xds, guard);
        r.describe(snapshot, ca, out);
        return r;
      } catch (IOException | RuntimeException e) {
        closeQuietly(source);
        throw e;
      }
    }

    /** Waits, for as long as it takes, until {@code source} has listed the mesh. */
    private static void awaitSynced(KubernetesConfigSource source) throws IOException {
      try {
        source.synced().get();
      } catch (InterruptedException e) {
        source.close();
        Thread.currentThread().interrupt();
        throw new IOException("interrupted while listing the mesh", e);
      } catch (ExecutionException | java.util.concurrent.CancellationException e) {
        source.close();
        throw new IOException("listing the mesh failed: " + e.getMessage(), e);
      }
    }

    /** {@code call}, retried while the API fails transiently ({@link ApiRetry}). */
    private static <T> T retrying(ApiOutage outage, String what, ApiRetry.Call<T> call)
        throws IOException {
      try {
        return ApiRetry.DEFAULT.call(outage, what, call);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted: " + what, e);
      }
    }

    /** The config server's namespace: --namespace, $POD_NAMESPACE, the client's, or the default. */
    private static String namespace(Options o, KubernetesClient client) {
      if (o.namespace() != null) {
        return o.namespace();
      }
      String env = System.getenv("POD_NAMESPACE");
      if (env != null && !env.isBlank()) {
        return env;
      }
      return client.getNamespace() != null ? client.getNamespace() : DEFAULT_NAMESPACE;
    }

    private static AutoCloseable closingBoth(AutoCloseable source, KubernetesClient client) {
      return () -> {
        try {
          source.close();
        } finally {
          client.close();
        }
      };
    }

    private void describe(MeshSnapshot snapshot, CertificateAuthority ca, PrintStream out) {
      out.println("mesh config-server: CA for trust domain " + ca.trustDomain()
          + " (workload certificates up to " + GoDurationText.of(ca.maxValidity()) + ")");
      out.println("  root certificate: " + state.rootCertFile()
          + (state.createdRoot() ? " (created now)" : " (reused)"));
      out.println("  root key:         " + state.rootKeyFile() + " (0600)");
      out.println("  trust bundle:     " + state.trustBundleFile() + " ("
          + state.roots().trustBundle().size() + " root(s))");
      if (snapshot.nodes().isEmpty()) {
        out.println("  node tokens:      none: the configuration declares no Node objects");
      }
      for (Node n : snapshot.nodes()) {
        out.println("  node token:       " + tokens.tokenFile(n.name()) + " (node " + n.name() + ")");
      }
      out.println("  listening on:     " + ConfigServer.format(server.address())
          + " (plaintext gRPC; CA: istio.v1.auth.IstioCertificateService/CreateCertificate;"
          + " xDS: envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources)");
      if (tlsServer != null) {
        out.println("  listening on:     " + ConfigServer.format(tlsServer.address())
            + " (TLS as " + ControlPlaneTls.SERVER_NAME + ", "
            + ControlPlaneTls.serverIdentity(state.trustDomain())
            + "; xDS needs a client certificate from this CA or a valid bearer token)");
      }
      ServerLimits l = guard.limits();
      out.println("  limits:           at most " + guard.maxConnections() + " connections ("
          + l.maxConnectionsPerClient() + " per client address, " + l.maxPendingHandshakes()
          + " in their handshake), handshake within " + GoDurationText.of(l.handshakeTimeout())
          + ", idle for " + GoDurationText.of(l.idleTimeout()) + ", "
          + l.maxCallsPerConnection() + " calls per connection, requests up to "
          + l.maxRequestBytes() + " bytes");
    }

    @Override
    public void close() {
      xds.close(); // ends the xDS streams first, so the server need not wait for them
      server.close();
      if (tlsServer != null) {
        tlsServer.close();
      }
      guard.close();
      try {
        tokenSubscription.close();
      } catch (Exception e) {
        // nothing to release beyond the listener entry
      }
      closeQuietly(source);
    }
  }

  /** Prints a duration the way the flag takes it (24h, 90m, 30s, 500ms). */
  static final class GoDurationText {
    private GoDurationText() {}

    static String of(Duration d) {
      if (d.toMillis() % 1000 != 0) {
        return d.toMillis() + "ms";
      }
      if (d.toSeconds() % 3600 == 0) {
        return d.toHours() + "h";
      }
      if (d.toSeconds() % 60 == 0) {
        return d.toMinutes() + "m";
      }
      return d.toSeconds() + "s";
    }
  }
}
