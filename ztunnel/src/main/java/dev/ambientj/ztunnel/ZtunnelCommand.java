package dev.ambientj.ztunnel;

import dev.ambientj.config.GracefulShutdown;
import dev.ambientj.config.ProxyFlags;
import dev.ambientj.config.SnapshotPublisher;
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
import dev.ambientj.ztunnel.proxy.ProxyLimits;
import java.io.PrintStream;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ForkJoinPool;

/** Entry point of `./mesh ztunnel`. */
public final class ZtunnelCommand {
  /** Lifetime of workload certificates from the local CA (ztunnel's default SECRET_TTL). */
  static final Duration CERTIFICATE_TTL = Duration.ofHours(24);

  /** The drain deadline without {@value GracefulShutdown#GRACE_ENV} (ztunnel's default). */
  static final Duration DRAIN_DEADLINE = Duration.ofSeconds(5);

  /** Where the node agent serves ZDS (Istio's default; env {@code INPOD_UDS}). */
  static final String DEFAULT_ZDS_SOCKET = "/var/run/ztunnel/ztunnel.sock";

  private ZtunnelCommand() {}

  /** {@code limits} with one field of the default workload budget set (fairness turned on). */
  private static ProxyLimits withWorkloadBudget(ProxyLimits limits, String flag, int value) {
    var b = limits.workloadBudget() != null ? limits.workloadBudget()
        : ProxyLimits.derive(Descriptors.limit()).workloadBudget();
    return limits.withWorkloadBudget(switch (flag) {
      case "--workload-max-connections" ->
          new dev.ambientj.ztunnel.fairness.WorkloadBudget(value, b.maxConnectionRate(), b.maxStreams());
      case "--workload-max-connection-rate" ->
          new dev.ambientj.ztunnel.fairness.WorkloadBudget(b.maxConnections(), value, b.maxStreams());
      default ->
          new dev.ambientj.ztunnel.fairness.WorkloadBudget(b.maxConnections(), b.maxConnectionRate(), value);
    });
  }

  /** Runs the subcommand; returns the process exit code. */
  @SuppressWarnings("try")
  public static int run(String[] args) {
    ProxyFlags flags = ProxyFlags.forProxy();
    String node = System.getenv("NODE_NAME");
    Path stateDir = Path.of(".mesh-state");
    Transport.Kind transport = Transport.Kind.AUTO;
    InetAddress adminAddress = null;
    // As Istio's ztunnel sizes its workers from the pod's CPU limit: the JVM reads cgroup cpu.max.
    int threads = Runtime.getRuntime().availableProcessors();
    Duration certTtl = CERTIFICATE_TTL;
    String rootNamespace = null;
    boolean inPod = false;
    ProxyLimits limits = ProxyLimits.derive(Descriptors.limit());
    Path zdsSocket = Path.of(envOr("INPOD_UDS", DEFAULT_ZDS_SOCKET));
    HboneServerConfig hbone = HboneServerConfig.defaults();
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
          case "--node" -> node = args[++i];
          case "--inpod" -> inPod = true;
          case "--zds-socket" -> zdsSocket = Path.of(args[++i]);
          case "--state-dir" -> stateDir = Path.of(args[++i]);
          case "--transport" -> transport = Transport.Kind.parse(args[++i]);
          case "--admin-address" -> adminAddress = InetAddress.ofLiteral(args[++i]);
          case "--root-namespace" -> rootNamespace = args[++i];
          case "--cert-ttl" -> certTtl = Duration.parse("PT" + args[++i].toUpperCase());
          case "--max-connections" -> limits = limits.withProxyCaps(count(args[++i]),
              limits.maxHandshakes());
          case "--max-handshakes" -> limits = limits.withProxyCaps(limits.maxConnections(),
              count(args[++i]));
          case "--max-listener-connections" -> limits = limits.withListenerCaps(count(args[++i]),
              limits.listenerMaxHandshakes());
          case "--max-listener-handshakes" -> limits = limits.withListenerCaps(
              limits.listenerMaxConnections(), count(args[++i]));
          case "--admin-max-connections" ->
              limits = limits.withAdminMaxConnections(count(args[++i]));
          case "--socks5-handshake-timeout" ->
              limits = limits.withSocks5HandshakeTimeout(duration(args[++i]));
          case "--connect-timeout" -> limits = limits.withConnectTimeout(duration(args[++i]));
          case "--hbone-handshake-timeout" -> hbone = hbone.withDeadlines(duration(args[++i]),
              hbone.firstRequestTimeout(), hbone.connectTimeout());
          case "--hbone-first-request-timeout" -> hbone = hbone.withDeadlines(hbone.handshakeTimeout(),
              duration(args[++i]), hbone.connectTimeout());
          case "--hbone-connect-timeout" -> hbone = hbone.withDeadlines(hbone.handshakeTimeout(),
              hbone.firstRequestTimeout(), duration(args[++i]));
          case "--hbone-reset-limit" -> hbone = hbone.withPrematureResetLimit(count(args[++i]),
              hbone.prematureResetWindow());
          case "--fairness" -> limits = limits.withWorkloadBudget(switch (args[++i]) {
            case "on" -> limits.workloadBudget() != null ? limits.workloadBudget()
                : ProxyLimits.derive(Descriptors.limit()).workloadBudget();
            case "off" -> null;
            default -> throw new IllegalArgumentException("expected on or off, got '" + args[i] + "'");
          });
          case "--workload-max-connections", "--workload-max-connection-rate",
              "--workload-max-streams" -> limits = withWorkloadBudget(limits, a, count(args[++i]));
          case "--worker-threads" -> {
            threads = Integer.parseInt(args[++i]);
            if (threads < 1) {
              throw new IllegalArgumentException("must be at least 1");
            }
          }
          default -> {
            System.err.println("mesh ztunnel: unknown flag '" + a + "'");
            usage(System.err);
            return 2;
          }
        }
      } catch (ArrayIndexOutOfBoundsException e) {
        System.err.println("mesh ztunnel: " + a + " needs a value");
        usage(System.err);
        return 2;
      } catch (IllegalArgumentException e) {
        System.err.println("mesh ztunnel: " + (e.getMessage().startsWith(a) ? "" : a + ": ")
            + e.getMessage());
        return 2;
      }
    }
    if (node == null || node.isEmpty()) {
      System.err.println("mesh ztunnel: --node NODE is required");
      usage(System.err);
      return 2;
    }
    try {
      flags.validate();
    } catch (IllegalArgumentException e) {
      System.err.println("mesh ztunnel: " + e.getMessage());
      usage(System.err);
      return 2;
    }
    SnapshotPublisher publisher = new SnapshotPublisher();
    CaClient caClient = null;
    CertificateManager certificates = null;
    String podName = envOr("POD_NAME", "ztunnel-" + node);
    String podNamespace = envOr("POD_NAMESPACE", "istio-system");
    var sourceOptions = flags.sourceOptions("ztunnel", podName, podNamespace, node,
        stateDir.resolve("xds-cache-" + node + ".pb"));
    try (AutoCloseable ignored = flags.startSource(sourceOptions, publisher)) {
      MeshSnapshot snapshot = publisher.snapshot();
      if (snapshot.findNode(node).isEmpty()) {
        System.err.println("mesh ztunnel: warning: node '" + node + "' is not in the configuration");
      }
      IdentityProvider identities;
      if (flags.caAddress() != null) {
        CaClient ca = caClient = flags.caClient();
        Duration ttl = certTtl;
        certificates = CertificateManager.create(id -> ca.issue(id.toString(), ttl, ForkJoinPool.commonPool())
            .thenApply(c -> new WorkloadCertificate(id, c.chain(), c.privateKey(), TrustBundle.of(c.root()))));
        identities = certificates;
        System.err.println("mesh ztunnel: certificates from the CA at " + flags.caAddress()
            + (flags.tls() ? " (TLS)" : ""));
      } else {
        LocalCertificateAuthority ca = LocalCertificateAuthority.loadOrCreate(stateDir, snapshot.trustDomain());
        identities = ca.asIdentityProvider(certTtl);
      }
      Ztunnel.Builder builder = Ztunnel.builder()
          .node(node)
          .config(publisher)
          .identityProvider(identities)
          .transport(Transport.select(transport))
          .workerThreads(threads)
          .limits(limits)
          .hboneServerConfig(hbone);
      if (adminAddress != null) {
        builder.adminAddress(adminAddress);
      } else if (inPod) {
        // In its own pod (the DaemonSet's) the node's InternalIP is not ours to bind: admin on
        // localhost, metrics and readiness on all of the pod's addresses (the kubelet probes the
        // pod IP), as Istio's ztunnel does.
        builder.adminAddress(InetAddress.getLoopbackAddress()).statsAddress(InetAddress.ofLiteral("0.0.0.0"));
      }
      if (rootNamespace != null) {
        builder.rootNamespace(rootNamespace);
      }
      if (inPod) {
        builder.inPod(zdsSocket);
      }
      Duration drain = GracefulShutdown.drainDeadline(DRAIN_DEADLINE);
      builder.drainDeadline(drain);
      GracefulShutdown signal = GracefulShutdown.install("ztunnel",
          drain.plus(Ztunnel.DRAIN_LINGER).plusSeconds(10));
      try (Ztunnel ztunnel = builder.build().start()) {
        System.err.println("mesh ztunnel: node " + node + " running; admin http://"
            + hostPort(ztunnel.adminAddress()) + "/config_dump, metrics http://"
            + hostPort(ztunnel.metricsAddress()) + "/metrics; drain deadline "
            + drain.toMillis() / 1000.0 + " s; Ctrl-C to stop");
        signal.awaitSignal();
        ztunnel.shutdown();
      } finally {
        signal.finished();
      }
      return 0;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return 1;
    } catch (Exception e) {
      System.err.println("mesh ztunnel: " + e.getMessage());
      return 1;
    } finally {
      if (certificates != null) {
        certificates.close();
      }
      if (caClient != null) {
        caClient.close();
      }
    }
  }

  /** A positive count, e.g. {@code 5000}. */
  static int count(String value) {
    int n;
    try {
      n = Integer.parseInt(value.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("'" + value + "' is not a number");
    }
    if (n < 1) {
      throw new IllegalArgumentException("must be at least 1 (got " + n + ")");
    }
    return n;
  }

  /** A positive duration: {@code 500ms}, {@code 10s}, {@code 2m}, {@code 1h}. */
  static Duration duration(String value) {
    String v = value.trim().toLowerCase(java.util.Locale.ROOT);
    try {
      Duration d = v.endsWith("ms")
          ? Duration.ofMillis(Long.parseLong(v.substring(0, v.length() - 2)))
          : Duration.parse("PT" + v.toUpperCase(java.util.Locale.ROOT));
      if (!d.isNegative() && !d.isZero()) {
        return d;
      }
    } catch (RuntimeException e) {
      // reported below
    }
    throw new IllegalArgumentException("'" + value + "' is not a positive duration (e.g. 500ms,"
        + " 10s, 2m)");
  }

  private static String envOr(String name, String fallback) {
    String v = System.getenv(name);
    return v == null || v.isBlank() ? fallback : v;
  }

  private static String hostPort(java.net.InetSocketAddress a) {
    return io.netty.util.NetUtil.toSocketAddressString(a);
  }

  static void usage(PrintStream out) {
    out.println("usage: mesh ztunnel (--config FILE [--config FILE...] | --xds HOST:PORT | --kubernetes)");
    out.println("                    --node NODE [flags]");
    out.println();
    out.println("Serves every enrolled workload scheduled on NODE: HBONE 15008, inbound 15006,");
    out.println("outbound 15001 and SOCKS5 15080 on each pod IP; admin 15000, metrics 15020 and");
    out.println("readiness 15021 on the node's InternalIP (with --inpod, in ztunnel's own pod: admin");
    out.println("on 127.0.0.1, metrics and readiness on all of the pod's addresses).");
    out.println();
    out.print(ProxyFlags.forProxy().help());
    out.println("                       With --xds the last good set is cached in the state dir and");
    out.println("                       used when the server is down at start; without one it waits");
    out.println("                       for the server, not ready, as long as it takes. With --ca-address");
    out.println("                       each local service account gets an EC P-256 key and CSR,");
    out.println("                       renewed at half-life; the CA signs only identities of");
    out.println("                       workloads on this node. Without it: a local CA.");
    out.println("  --node NODE          the node to serve (default: $NODE_NAME)");
    out.println("  --state-dir DIR      where the local CA root is kept (default .mesh-state)");
    out.println("  --cert-ttl D         certificate lifetime to ask for, e.g. 24h, 30m (default 24h)");
    out.println("  --root-namespace NS  Istio's root namespace for mesh-wide policies");
    out.println("                       (default istio-system)");
    out.println("  --inpod              in-pod mode (needs root): pods' network namespaces come");
    out.println("                       from the node agent (mesh cni-agent) over ZDS; listeners");
    out.println("                       and connections are opened inside each pod, marked 1337");
    out.println("  --zds-socket PATH    the node agent's ZDS socket (default $INPOD_UDS, else");
    out.println("                       " + DEFAULT_ZDS_SOCKET + ")");
    out.println("  --transport KIND     auto | epoll | io_uring | nio (default auto)");
    out.println("  --admin-address IP   bind admin/metrics/readiness here instead of the defaults above");
    out.println("  --worker-threads N   event-loop threads (default: the CPUs this process may use,");
    out.println("                       cgroup cpu.max included; now "
        + Runtime.getRuntime().availableProcessors() + ")");
    out.println();
    ProxyLimits d = ProxyLimits.derive(Descriptors.limit());
    out.println("Limits (defaults from this process's open-file limit, " + Descriptors.limit()
        + ", keeping " + ProxyLimits.headroom(Descriptors.limit()) + " for admin, metrics,");
    out.println("readiness and ztunnel's own connections):");
    out.println("  --max-connections N  sockets held for pod traffic, accepted and upstream");
    out.println("                       (default " + d.maxConnections() + ")");
    out.println("  --max-handshakes N   accepted connections still in a handshake (SOCKS5, TLS,");
    out.println("                       upstream connect) (default " + d.maxHandshakes() + ")");
    out.println("  --max-listener-connections N  per workload listener (default "
        + d.listenerMaxConnections() + ")");
    out.println("  --max-listener-handshakes N   per workload listener (default "
        + d.listenerMaxHandshakes() + ")");
    out.println("  --admin-max-connections N     per admin/metrics/readiness server (default "
        + d.adminMaxConnections() + ")");
    out.println("  --socks5-handshake-timeout D  time for a SOCKS5 greeting and request (default "
        + d.socks5HandshakeTimeout().toSeconds() + "s)");
    out.println("  --connect-timeout D  time to connect upstream, TCP or HBONE (default "
        + d.connectTimeout().toSeconds() + "s)");
    out.println("  --hbone-handshake-timeout D      15008: TLS handshake deadline (default 10s)");
    out.println("  --hbone-first-request-timeout D  15008: first CONNECT after it (default 10s)");
    out.println("  --hbone-connect-timeout D        15008: CONNECT answered, i.e. the app connected");
    out.println("                                   (default 10s; then 504)");
    out.println("  --hbone-reset-limit N            15008: CONNECTs a peer may reset before their");
    out.println("                                   answer per 10s, then GOAWAY (default 200)");
    out.println("Fairness between the node's workloads (per source workload; a pod overrides each with");
    out.println("the annotation named in brackets; over budget, new connections are refused):");
    out.println("  --fairness on|off               per-workload budgets (default on)");
    out.println("  --workload-max-connections N    open outbound connections (default "
        + d.workloadBudget().maxConnections() + ") [ambientj.dev/max-connections]");
    out.println("  --workload-max-connection-rate N  new outbound connections a second (default "
        + d.workloadBudget().maxConnectionRate() + ")");
    out.println("                                  [ambientj.dev/max-connection-rate]");
    out.println("  --workload-max-streams N        HBONE streams from one source into this node");
    out.println("                                  (default " + d.workloadBudget().maxStreams()
        + ") [ambientj.dev/max-streams]");
    out.println("  --help               this message");
    out.println();
    out.println("On SIGTERM: readiness answers 503 at once; each pod listener keeps accepting until a");
    out.println("successor ztunnel listens on the same address (SO_REUSEPORT), then hands over;");
    out.println("connections continue until the drain deadline, then are ended gracefully and logged");
    out.println("(response_flags DRAIN). Environment: " + GracefulShutdown.GRACE_ENV + "=S (the");
    out.println("pod's terminationGracePeriodSeconds) sets the drain deadline to S - 5 s (S/2 when");
    out.println("S <= 5); default " + DRAIN_DEADLINE.toSeconds() + " s.");
  }
}
