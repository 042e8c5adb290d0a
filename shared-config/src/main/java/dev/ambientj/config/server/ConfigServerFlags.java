package dev.ambientj.config.server;

import dev.ambientj.config.SocketAddresses;
import dev.ambientj.config.ca.CertificateAuthority;
import dev.ambientj.config.cli.MeshCommandLine;
import dev.ambientj.config.cli.MeshVersion;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.TypeConversionException;

/**
 * The flags of {@code mesh config-server}, grouped in its help as kubectl groups them; {@link
 * #options} checks their combination and turns them into {@link ConfigServerCommand.Options}.
 */
@Command(name = "config-server", mixinStandardHelpOptions = true, sortOptions = false,
    versionProvider = MeshVersion.class,
    usageHelpAutoWidth = true,
    description = {
        "Serves Istio's certificate service (istio.v1.auth.IstioCertificateService) and delta xDS"
            + " (envoy.service.discovery.v3.AggregatedDiscoveryService: istio.workload.Address,"
            + " istio.security.Authorization) for the mesh described by the YAML files or read from"
            + " the Kubernetes API; changes are pushed to connected proxies."},
    footerHeading = "%n",
    footer = {
        "A ztunnel on node N authenticates with 'authorization: Bearer <contents of"
            + " DIR/node-tokens/N.token>' and may obtain certificates only for identities of workloads"
            + " scheduled on N. With --kubernetes, callers may instead send their projected"
            + " service-account token (audience istio-ca), checked with a TokenReview: a trusted node"
            + " account (ztunnel) gets certificates for the workloads on its node, any other account"
            + " (a waypoint) its own. A call whose token is not valid is refused (UNAUTHENTICATED) on"
            + " both ports, xDS included; xDS without a token is served on the plaintext port only."
            + " The root is created on first start and reused afterwards.",
        "",
        "Exit status: 0 --help; 1 the state directory, the configuration or an address cannot be"
            + " used; 2 usage error. SIGTERM/SIGINT stop the server gracefully."})
final class ConfigServerFlags implements Callable<Integer> {
  @Spec CommandSpec spec;
  private final PrintStream out;
  private final PrintStream err;

  ConfigServerFlags(PrintStream out, PrintStream err) {
    this.out = out;
    this.err = err;
  }

  @Override
  public Integer call() {
    return ConfigServerCommand.serve(options(), out, err);
  }

  @ArgGroup(validate = false, heading = "%nConfig:%n", order = 1)
  Config config = new Config();

  @ArgGroup(validate = false, heading = "%nCA and listeners:%n", order = 2)
  Ca ca = new Ca();

  @ArgGroup(validate = false, heading = "%nLimits of both listeners (a connection over a cap is"
      + " closed; counts are logged each minute):%n", order = 3)
  Limits limits = new Limits();

  static final class Config {
    @Option(names = "--config", paramLabel = "FILE", order = 1,
        description = "Kubernetes YAML of the mesh (Nodes, Pods, Services, Istio objects); repeatable")
    List<Path> configs = new ArrayList<>();

    @Option(names = "--kubernetes", order = 2,
        description = "watch the mesh in the cluster of the current kubeconfig (or the pod's service"
            + " account) instead: Namespaces, Nodes, Pods, Services, Gateway API and Istio objects"
            + " (get/list/watch on each); a kind whose CRD is not installed is left out")
    boolean kubernetes;

    @Option(names = "--namespace", paramLabel = "NS", order = 3,
        description = "with --kubernetes: the config server's namespace, holding the CA root (Secret"
            + " ambientj-ca-root) and its published certificate (ConfigMap ambientj-ca-root-cert,"
            + " key root-cert.pem); default $POD_NAMESPACE, else the client's namespace")
    String namespace;

    @Option(names = "--waypoint-controller", order = 4,
        description = "also deploy a waypoint for every Gateway of class istio-waypoint in the"
            + " cluster of the current kubeconfig (or the pod's service account); needs"
            + " AMBIENTJ_WAYPOINT_IMAGE, AMBIENTJ_XDS_ADDRESS")
    boolean waypointController;
  }

  static final class Ca {
    @Option(names = "--state-dir", paramLabel = "DIR", order = 1,
        description = "where the CA keeps its root and the node tokens (default .mesh-state; with"
            + " --kubernetes the root comes from the Secret, see --namespace): root-key.pem (0600),"
            + " root-cert.pem, roots.pem (trust bundle), node-tokens/<node>.token (0600)")
    Path stateDir = Path.of(ConfigServerCommand.DEFAULT_STATE_DIR);

    @Option(names = "--listen", paramLabel = "ADDR:PORT", order = 2, converter = Address.class,
        description = "plaintext gRPC address (default " + ConfigServerCommand.DEFAULT_LISTEN
            + "); keep it on loopback")
    InetSocketAddress listen;

    @Option(names = "--listen-tls", paramLabel = "ADDR:PORT", order = 3, converter = Address.class,
        description = "also serve the same over TLS (Istio's port is 15012; off unless given):"
            + " server certificate from this CA for istiod.istio-system.svc (and each"
            + " --tls-server-name); xDS callers must present a client certificate from this CA"
            + " (their workload certificate) or a valid bearer token, CA callers a bearer token")
    InetSocketAddress listenTls;

    @Option(names = "--tls-server-name", paramLabel = "NAME", order = 4,
        description = "another DNS name for the TLS certificate, e.g. the config server's Service"
            + " ambientj-config.ambientj-system.svc, which proxies dialling it verify; repeatable")
    List<String> tlsServerNames = new ArrayList<>();

    @Option(names = "--max-cert-ttl", paramLabel = "DURATION", order = 5,
        converter = MeshCommandLine.PositiveDuration.class,
        description = "longest workload certificate lifetime granted (default 24h)")
    Duration maxCertTtl = CertificateAuthority.DEFAULT_VALIDITY;

    @Option(names = "--ca-trusted-node-accounts", paramLabel = "NS/SA,...", order = 6, split = ",",
        description = "with --kubernetes: service accounts that may get certificates for the"
            + " workloads on their own node (default NS/ztunnel); any other service account gets"
            + " only its own identity")
    List<String> trustedNodeAccounts = new ArrayList<>();

    @Option(names = "--monitoring-address", paramLabel = "ADDR:PORT", order = 7, converter = Address.class,
        description = "Prometheus metrics (/metrics), /logging and POST /quitquitquit, as istiod's"
            + " 15014 (default: the --listen address on port " + MonitoringServer.PORT + ")")
    InetSocketAddress monitoring;
  }

  static final class Limits {
    private static final ServerLimits DEFAULTS = ServerLimits.defaults();

    @Option(names = "--handshake-timeout", paramLabel = "D", order = 1,
        converter = MeshCommandLine.PositiveDuration.class,
        description = "close a connection that has not finished TLS and the HTTP/2 preface within D"
            + " (default 10s)")
    Duration handshakeTimeout = DEFAULTS.handshakeTimeout();

    @Option(names = "--idle-timeout", paramLabel = "D", order = 2,
        converter = MeshCommandLine.PositiveDuration.class,
        description = "close (GOAWAY) a connection with no call in progress for D (default 5m; an"
            + " xDS stream keeps its connection)")
    Duration idleTimeout = DEFAULTS.idleTimeout();

    @Option(names = "--keepalive-min-interval", paramLabel = "D", order = 3,
        converter = MeshCommandLine.PositiveDuration.class,
        description = "the shortest client ping interval allowed, with or without calls (default"
            + " 15s; faster pingers get GOAWAY ENHANCE_YOUR_CALM)")
    Duration keepAliveMin = DEFAULTS.permitKeepAliveTime();

    @Option(names = "--max-connections", paramLabel = "N", order = 4,
        description = "connections of both listeners together (default 16384, lowered to leave a"
            + " quarter of the descriptor limit, 256 to 4096, free)")
    int maxConnections = DEFAULTS.maxConnections();

    @Option(names = "--max-connections-per-client", paramLabel = "N", order = 5,
        description = "connections from one source address (default 256)")
    int perClient = DEFAULTS.maxConnectionsPerClient();

    @Option(names = "--max-pending-handshakes", paramLabel = "N", order = 6,
        description = "connections in their handshake at once; over it, or over --max-connections,"
            + " the oldest one in its handshake is closed to admit the new one (default 1024)")
    int pendingHandshakes = DEFAULTS.maxPendingHandshakes();

    @Option(names = "--max-calls-per-connection", paramLabel = "N", order = 7,
        description = "concurrent calls on one connection (default 100)")
    int callsPerConnection = DEFAULTS.maxCallsPerConnection();

    @Option(names = "--max-request-bytes", paramLabel = "N", order = 8,
        description = "largest request message (default 4194304)")
    int requestBytes = DEFAULTS.maxRequestBytes();
  }

  /** {@code ADDR:PORT}, port 0 allowed. */
  static final class Address implements ITypeConverter<InetSocketAddress> {
    @Override
    public InetSocketAddress convert(String value) {
      try {
        return SocketAddresses.parse(value, 0);
      } catch (IllegalArgumentException e) {
        throw new TypeConversionException(e.getMessage());
      }
    }
  }

  /**
   * The flags as the server takes them.
   *
   * @throws ParameterException naming the flag when a value or the combination is not allowed
   */
  ConfigServerCommand.Options options() {
    Config c = config == null ? new Config() : config;
    Ca a = ca == null ? new Ca() : ca;
    Limits l = limits == null ? new Limits() : limits;
    if (c.configs.isEmpty() == !c.kubernetes) {
      throw new ParameterException(spec.commandLine(), c.kubernetes
          ? "--config and --kubernetes exclude each other (give one)"
          : "--config FILE or --kubernetes is required");
    }
    List<String> trusted = new ArrayList<>();
    for (String account : a.trustedNodeAccounts) {
      if (account.isBlank()) {
        continue;
      }
      if (account.strip().split("/").length != 2) {
        throw new ParameterException(spec.commandLine(), "--ca-trusted-node-accounts "
            + String.join(",", a.trustedNodeAccounts)
            + ": expected NS/SA[,NS/SA...], e.g. ambientj-system/ztunnel");
      }
      trusted.add(account.strip());
    }
    atLeast("--max-connections", l.maxConnections, 0);
    atLeast("--max-connections-per-client", l.perClient, 1);
    atLeast("--max-pending-handshakes", l.pendingHandshakes, 1);
    atLeast("--max-calls-per-connection", l.callsPerConnection, 1);
    atLeast("--max-request-bytes", l.requestBytes, 1024);
    InetSocketAddress listen = a.listen != null ? a.listen
        : new Address().convert(ConfigServerCommand.DEFAULT_LISTEN);
    return new ConfigServerCommand.Options(List.copyOf(c.configs), c.kubernetes, a.stateDir, listen,
        a.maxCertTtl, c.waypointController, a.listenTls, List.copyOf(a.tlsServerNames), c.namespace,
        List.copyOf(trusted),
        ServerLimits.defaults().withHandshakeTimeout(l.handshakeTimeout).withIdleTimeout(l.idleTimeout)
            .withPermitKeepAliveTime(l.keepAliveMin).withCaps(l.maxConnections, l.perClient,
                l.pendingHandshakes, l.callsPerConnection, l.requestBytes), a.monitoring);
  }

  private void atLeast(String flag, int value, int min) {
    if (value < min) {
      throw new ParameterException(spec.commandLine(),
          flag + " " + value + ": expected a whole number of at least " + min);
    }
  }
}
