package dev.ambientj.ztunnel;

import dev.ambientj.config.GracefulShutdown;
import dev.ambientj.config.ProxyFlags;
import dev.ambientj.config.ProxyBootstrap;
import dev.ambientj.config.cli.MeshCommandLine;
import dev.ambientj.config.cli.MeshVersion;
import dev.ambientj.config.ca.CaClient;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.hbone.HboneServerConfig;
import dev.ambientj.hbone.identity.CertificateManager;
import dev.ambientj.hbone.identity.IdentityProvider;
import dev.ambientj.hbone.identity.LocalCertificateAuthority;
import dev.ambientj.hbone.identity.TrustBundle;
import dev.ambientj.hbone.identity.WorkloadCertificate;
import dev.ambientj.hbone.transport.Descriptors;
import dev.ambientj.hbone.transport.Transport;
import dev.ambientj.ztunnel.fairness.WorkloadBudget;
import dev.ambientj.ztunnel.proxy.ProxyLimits;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.ForkJoinPool;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.IDefaultValueProvider;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.TypeConversionException;

/** Entry point of `./mesh ztunnel`. */
@Command(name = "ztunnel", mixinStandardHelpOptions = true, sortOptions = false,
    versionProvider = MeshVersion.class, usageHelpAutoWidth = true,
    defaultValueProvider = ZtunnelCommand.DerivedLimits.class,
    description = {
        "Serves every enrolled workload scheduled on NODE: HBONE 15008, inbound 15006, outbound"
            + " 15001 and SOCKS5 15080 on each pod IP; admin 15000, metrics 15020 and readiness"
            + " 15021 on the node's InternalIP (with --inpod, in ztunnel's own pod: admin on"
            + " 127.0.0.1, metrics and readiness on all of the pod's addresses)."},
    footerHeading = "%n",
    footer = {
        "On SIGTERM: readiness answers 503 at once; each pod listener keeps accepting until a"
            + " successor ztunnel listens on the same address (SO_REUSEPORT), then hands over;"
            + " connections continue until the drain deadline, then are ended gracefully and logged"
            + " (response_flags DRAIN). Environment: " + GracefulShutdown.GRACE_ENV + "=S (the pod's"
            + " terminationGracePeriodSeconds) sets the drain deadline to S - 5 s (S/2 when S <= 5);"
            + " default 5 s."})
public final class ZtunnelCommand implements Callable<Integer> {
  /** Lifetime of workload certificates from the local CA (ztunnel's default SECRET_TTL). */
  static final Duration CERTIFICATE_TTL = Duration.ofHours(24);

  /** The drain deadline without {@value GracefulShutdown#GRACE_ENV} (ztunnel's default). */
  static final Duration DRAIN_DEADLINE = Duration.ofSeconds(5);

  /** Where the node agent serves ZDS (Istio's default; env {@code INPOD_UDS}). */
  static final String DEFAULT_ZDS_SOCKET = "/var/run/ztunnel/ztunnel.sock";

  @Spec CommandSpec spec;

  @ArgGroup(validate = false, heading = "%nConfig and identity:%n", order = 1)
  ProxyFlags flags = new ProxyFlags();

  @ArgGroup(validate = false, heading = "%nNode:%n", order = 2)
  NodeFlags node = new NodeFlags();

  @ArgGroup(validate = false, heading = "%nLimits (defaults from this process's open-file limit,"
      + " keeping some for admin, metrics, readiness and ztunnel's own connections):%n", order = 3)
  LimitFlags limits = new LimitFlags();

  @ArgGroup(validate = false, heading = "%nFairness between the node's workloads (per source workload;"
      + " a pod overrides each with the annotation in brackets; over budget, new connections are"
      + " refused):%n", order = 4)
  FairnessFlags fairness = new FairnessFlags();

  static final class FairnessFlags {
    @Option(names = "--fairness", paramLabel = "on|off", order = 1,
        description = "per-workload budgets (default on)")
    Fairness mode;

    @Option(names = "--workload-max-connections", paramLabel = "N", order = 2,
        converter = MeshCommandLine.PositiveCount.class,
        description = "open outbound connections (default ${DEFAULT-VALUE}) [" + WorkloadBudget.MAX_CONNECTIONS + "]")
    Integer maxConnections;

    @Option(names = "--workload-max-connection-rate", paramLabel = "N", order = 3,
        converter = MeshCommandLine.PositiveCount.class,
        description = "new outbound connections a second (default ${DEFAULT-VALUE}) ["
            + WorkloadBudget.MAX_CONNECTION_RATE + "]")
    Integer maxConnectionRate;

    @Option(names = "--workload-max-streams", paramLabel = "N", order = 4,
        converter = MeshCommandLine.PositiveCount.class,
        description = "HBONE streams from one source into this node (default ${DEFAULT-VALUE}) ["
            + WorkloadBudget.MAX_STREAMS + "]")
    Integer maxStreams;

    /** {@code limits} with the budget these flags give: none with {@code --fairness off}. */
    ProxyLimits apply(ProxyLimits limits) {
      if (mode == Fairness.OFF) {
        return limits.withWorkloadBudget(null);
      }
      WorkloadBudget d = limits.workloadBudget() != null ? limits.workloadBudget()
          : ProxyLimits.derive(Descriptors.limit()).workloadBudget();
      return limits.withWorkloadBudget(new WorkloadBudget(
          maxConnections != null ? maxConnections : d.maxConnections(),
          maxConnectionRate != null ? maxConnectionRate : d.maxConnectionRate(),
          maxStreams != null ? maxStreams : d.maxStreams()));
    }
  }

  /**
   * {@code --fairness on|off}: an enum, not a Boolean, which picocli would take as a flag and turn
   * the value into {@code true}/{@code false} before any converter sees it.
   */
  enum Fairness { ON, OFF }

  static final class NodeFlags {
    @Option(names = "--node", paramLabel = "NODE", order = 1,
        description = "the node to serve (default: $NODE_NAME)")
    String node = System.getenv("NODE_NAME");

    @Option(names = "--state-dir", paramLabel = "DIR", order = 2,
        description = "where the local CA root and the xDS cache are kept (default .mesh-state)")
    Path stateDir = Path.of(".mesh-state");

    @Option(names = "--cert-ttl", paramLabel = "D", order = 3, converter = MeshCommandLine.PositiveDuration.class,
        description = "certificate lifetime to ask for, e.g. 24h, 30m (default 24h)")
    Duration certTtl = CERTIFICATE_TTL;

    @Option(names = "--root-namespace", paramLabel = "NS", order = 4,
        description = "Istio's root namespace for mesh-wide policies (default istio-system)")
    String rootNamespace;

    @Option(names = "--inpod", order = 5,
        description = "in-pod mode (needs root): pods' network namespaces come from the node agent"
            + " (mesh cni-agent) over ZDS; listeners and connections are opened inside each pod,"
            + " marked 1337")
    boolean inPod;

    @Option(names = "--zds-socket", paramLabel = "PATH", order = 6,
        description = "the node agent's ZDS socket (default $INPOD_UDS, else " + DEFAULT_ZDS_SOCKET + ")")
    Path zdsSocket = Path.of(envOr("INPOD_UDS", DEFAULT_ZDS_SOCKET));

    @Option(names = "--transport", paramLabel = "KIND", order = 7, converter = TransportKind.class,
        description = "auto | epoll | io_uring | nio (default auto)")
    Transport.Kind transport = Transport.Kind.AUTO;

    @Option(names = "--admin-address", paramLabel = "IP", order = 8, converter = IpLiteral.class,
        description = "bind admin/metrics/readiness here instead of the defaults above")
    InetAddress adminAddress;

    // As Istio's ztunnel sizes its workers from the pod's CPU limit: the JVM reads cgroup cpu.max.
    @Option(names = "--worker-threads", paramLabel = "N", order = 9, converter = MeshCommandLine.PositiveCount.class,
        description = "event-loop threads (default: the CPUs this process may use, cgroup cpu.max"
            + " included; now ${DEFAULT-VALUE})")
    int threads = Runtime.getRuntime().availableProcessors();
  }

  static final class LimitFlags {
    @Option(names = "--max-connections", paramLabel = "N", order = 1, converter = MeshCommandLine.PositiveCount.class,
        description = "sockets held for pod traffic, accepted and upstream (default ${DEFAULT-VALUE})")
    Integer maxConnections;

    @Option(names = "--max-handshakes", paramLabel = "N", order = 2, converter = MeshCommandLine.PositiveCount.class,
        description = "accepted connections still in a handshake (SOCKS5, TLS, upstream connect) (default ${DEFAULT-VALUE})")
    Integer maxHandshakes;

    @Option(names = "--max-listener-connections", paramLabel = "N", order = 3,
        converter = MeshCommandLine.PositiveCount.class,
        description = "per workload listener (default ${DEFAULT-VALUE})")
    Integer listenerMaxConnections;

    @Option(names = "--max-listener-handshakes", paramLabel = "N", order = 4,
        converter = MeshCommandLine.PositiveCount.class,
        description = "per workload listener (default ${DEFAULT-VALUE})")
    Integer listenerMaxHandshakes;

    @Option(names = "--admin-max-connections", paramLabel = "N", order = 5,
        converter = MeshCommandLine.PositiveCount.class,
        description = "per admin/metrics/readiness server (default ${DEFAULT-VALUE})")
    Integer adminMaxConnections;

    @Option(names = "--socks5-handshake-timeout", paramLabel = "D", order = 6,
        converter = MeshCommandLine.PositiveDuration.class,
        description = "time for a SOCKS5 greeting and request (default ${DEFAULT-VALUE})")
    Duration socks5HandshakeTimeout;

    @Option(names = "--connect-timeout", paramLabel = "D", order = 7,
        converter = MeshCommandLine.PositiveDuration.class,
        description = "time to connect upstream, TCP or HBONE (default ${DEFAULT-VALUE})")
    Duration connectTimeout;

    @Option(names = "--hbone-handshake-timeout", paramLabel = "D", order = 8,
        converter = MeshCommandLine.PositiveDuration.class,
        description = "15008: TLS handshake deadline (default 10s)")
    Duration hboneHandshakeTimeout;

    @Option(names = "--hbone-first-request-timeout", paramLabel = "D", order = 9,
        converter = MeshCommandLine.PositiveDuration.class,
        description = "15008: first CONNECT after it (default 10s)")
    Duration hboneFirstRequestTimeout;

    @Option(names = "--hbone-connect-timeout", paramLabel = "D", order = 10,
        converter = MeshCommandLine.PositiveDuration.class,
        description = "15008: CONNECT answered, i.e. the app connected (default 10s; then 504)")
    Duration hboneConnectTimeout;

    @Option(names = "--hbone-reset-limit", paramLabel = "N", order = 11,
        converter = MeshCommandLine.PositiveCount.class,
        description = "15008: CONNECTs a peer may reset before their answer per 10s, then GOAWAY"
            + " (default 200)")
    Integer hboneResetLimit;

    /** The limits derived from the descriptor limit, with the flags given applied. */
    ProxyLimits proxyLimits() {
      ProxyLimits l = ProxyLimits.derive(Descriptors.limit());
      l = l.withProxyCaps(or(maxConnections, l.maxConnections()), or(maxHandshakes, l.maxHandshakes()));
      l = l.withListenerCaps(or(listenerMaxConnections, l.listenerMaxConnections()),
          or(listenerMaxHandshakes, l.listenerMaxHandshakes()));
      l = l.withAdminMaxConnections(or(adminMaxConnections, l.adminMaxConnections()));
      l = l.withSocks5HandshakeTimeout(or(socks5HandshakeTimeout, l.socks5HandshakeTimeout()));
      return l.withConnectTimeout(or(connectTimeout, l.connectTimeout()));
    }

    HboneServerConfig hbone() {
      HboneServerConfig h = HboneServerConfig.defaults();
      h = h.withDeadlines(or(hboneHandshakeTimeout, h.handshakeTimeout()),
          or(hboneFirstRequestTimeout, h.firstRequestTimeout()), or(hboneConnectTimeout, h.connectTimeout()));
      return hboneResetLimit == null ? h : h.withPrematureResetLimit(hboneResetLimit, h.prematureResetWindow());
    }

    private static <T> T or(T given, T fallback) {
      return given != null ? given : fallback;
    }
  }

  /**
   * The defaults of the limit flags, derived from this process's open-file limit as {@link
   * ProxyLimits#derive} does, so that {@code --help} shows what is in force without flags.
   */
  static final class DerivedLimits implements IDefaultValueProvider {
    @Override
    public String defaultValue(ArgSpec arg) {
      if (!(arg instanceof OptionSpec option)) {
        return null;
      }
      ProxyLimits d = ProxyLimits.derive(Descriptors.limit());
      return switch (option.longestName()) {
        case "--max-connections" -> String.valueOf(d.maxConnections());
        case "--max-handshakes" -> String.valueOf(d.maxHandshakes());
        case "--max-listener-connections" -> String.valueOf(d.listenerMaxConnections());
        case "--max-listener-handshakes" -> String.valueOf(d.listenerMaxHandshakes());
        case "--admin-max-connections" -> String.valueOf(d.adminMaxConnections());
        case "--socks5-handshake-timeout" -> goDuration(d.socks5HandshakeTimeout());
        case "--connect-timeout" -> goDuration(d.connectTimeout());
        case "--workload-max-connections" -> String.valueOf(d.workloadBudget().maxConnections());
        case "--workload-max-connection-rate" -> String.valueOf(d.workloadBudget().maxConnectionRate());
        case "--workload-max-streams" -> String.valueOf(d.workloadBudget().maxStreams());
        default -> null;
      };
    }

    private static String goDuration(Duration d) {
      return d.toMillis() % 1000 == 0 ? d.toSeconds() + "s" : d.toMillis() + "ms";
    }
  }

  /** {@code auto | epoll | io_uring | nio}. */
  static final class TransportKind implements ITypeConverter<Transport.Kind> {
    @Override
    public Transport.Kind convert(String value) {
      try {
        return Transport.Kind.parse(value);
      } catch (IllegalArgumentException e) {
        throw new TypeConversionException(e.getMessage());
      }
    }
  }

  /** An IP address literal, never a name to resolve. */
  static final class IpLiteral implements ITypeConverter<InetAddress> {
    @Override
    public InetAddress convert(String value) {
      try {
        return InetAddress.ofLiteral(value);
      } catch (IllegalArgumentException e) {
        throw new TypeConversionException("'" + value + "' is not an IP address");
      }
    }
  }

  /** The command line of {@code mesh ztunnel}. */
  public static CommandLine commandLine() {
    return MeshCommandLine.create(new ZtunnelCommand(), "ztunnel");
  }

  /** Runs the subcommand; returns the process exit code. */
  public static int run(String[] args) {
    return commandLine().execute(args);
  }

  @Override
  public Integer call() throws Exception {
    ProxyFlags flags = this.flags != null ? this.flags : new ProxyFlags();
    NodeFlags n = this.node != null ? this.node : new NodeFlags();
    LimitFlags l = this.limits != null ? this.limits : new LimitFlags();
    FairnessFlags f = this.fairness != null ? this.fairness : new FairnessFlags();
    String node = n.node;
    Path stateDir = n.stateDir;
    Duration certTtl = n.certTtl;
    boolean inPod = n.inPod;
    ProxyLimits limits = f.apply(l.proxyLimits());
    HboneServerConfig hbone = l.hbone();
    if (node == null || node.isEmpty()) {
      throw new ParameterException(spec.commandLine(), "--node NODE is required (or $NODE_NAME)");
    }
    try {
      flags.validate();
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage());
    }
    String podName = envOr("POD_NAME", "ztunnel-" + node);
    String podNamespace = envOr("POD_NAMESPACE", "istio-system");
    var sourceOptions = flags.sourceOptions("ztunnel", podName, podNamespace, node,
        stateDir.resolve("xds-cache-" + node + ".pb"));
    try (ProxyBootstrap proxy = ProxyBootstrap.start("ztunnel", flags, sourceOptions)) {
      MeshSnapshot snapshot = proxy.snapshot();
      if (snapshot.findNode(node).isEmpty()) {
        System.err.println("mesh ztunnel: warning: node '" + node + "' is not in the configuration");
      }
      IdentityProvider identities;
      CaClient ca = proxy.caClient();
      if (ca != null) {
        identities = proxy.own(CertificateManager.create(id -> ca.issue(id.toString(), certTtl,
            ForkJoinPool.commonPool()).thenApply(c -> new WorkloadCertificate(id, c.chain(), c.privateKey(),
                TrustBundle.of(c.root())))));
      } else {
        identities = LocalCertificateAuthority.loadOrCreate(stateDir, snapshot.trustDomain())
            .asIdentityProvider(certTtl);
      }
      Ztunnel.Builder builder = Ztunnel.builder()
          .node(node)
          .config(proxy.publisher())
          .identityProvider(identities)
          .transport(Transport.select(n.transport))
          .workerThreads(n.threads)
          .limits(limits)
          .hboneServerConfig(hbone);
      if (n.adminAddress != null) {
        builder.adminAddress(n.adminAddress);
      } else if (inPod) {
        // In its own pod (the DaemonSet's) the node's InternalIP is not ours to bind: admin on
        // localhost, metrics and readiness on all of the pod's addresses (the kubelet probes the
        // pod IP), as Istio's ztunnel does.
        builder.adminAddress(InetAddress.getLoopbackAddress()).statsAddress(InetAddress.ofLiteral("0.0.0.0"));
      }
      if (n.rootNamespace != null) {
        builder.rootNamespace(n.rootNamespace);
      }
      if (inPod) {
        builder.inPod(n.zdsSocket);
      }
      Duration drain = GracefulShutdown.drainDeadline(DRAIN_DEADLINE);
      builder.drainDeadline(drain);
      ProxyBootstrap.untilSignal("ztunnel", drain.plus(Ztunnel.DRAIN_LINGER).plusSeconds(10), signal -> {
        try (Ztunnel ztunnel = builder.build().start()) {
          System.err.println("mesh ztunnel: node " + node + " running; admin http://"
              + hostPort(ztunnel.adminAddress()) + "/config_dump, metrics http://"
              + hostPort(ztunnel.metricsAddress()) + "/metrics; drain deadline "
              + drain.toMillis() / 1000.0 + " s; Ctrl-C to stop");
          signal.await();
          ztunnel.shutdown();
        }
      });
      return 0;
    }
  }

  private static String envOr(String name, String fallback) {
    String v = System.getenv(name);
    return v == null || v.isBlank() ? fallback : v;
  }

  private static String hostPort(java.net.InetSocketAddress a) {
    return io.netty.util.NetUtil.toSocketAddressString(a);
  }
}
