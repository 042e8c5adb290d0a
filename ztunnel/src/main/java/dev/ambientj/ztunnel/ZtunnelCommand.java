package dev.ambientj.ztunnel;

import dev.ambientj.config.ProxyConfigSources;
import dev.ambientj.config.SocketAddresses;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.ca.CaClient;
import dev.ambientj.hbone.identity.IdentityProvider;
import dev.ambientj.hbone.identity.LocalCertificateAuthority;
import dev.ambientj.hbone.transport.Transport;
import dev.ambientj.ztunnel.identity.CertificateManager;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ForkJoinPool;

/** Entry point of `./mesh ztunnel`. */
public final class ZtunnelCommand {
  private static final Duration XDS_READY_TIMEOUT = Duration.ofSeconds(30);
  /** Lifetime of workload certificates from the local CA (ztunnel's default SECRET_TTL). */
  static final Duration CERTIFICATE_TTL = Duration.ofHours(24);

  /** Where the node agent serves ZDS (Istio's default; env {@code INPOD_UDS}). */
  static final String DEFAULT_ZDS_SOCKET = "/var/run/ztunnel/ztunnel.sock";

  private ZtunnelCommand() {}

  /** Runs the subcommand; returns the process exit code. */
  @SuppressWarnings("try")
  public static int run(String[] args) {
    List<Path> configs = new ArrayList<>();
    String node = System.getenv("NODE_NAME");
    Path stateDir = Path.of(".mesh-state");
    Transport.Kind transport = Transport.Kind.AUTO;
    InetAddress adminAddress = null;
    int threads = 2;
    String caAddress = null;
    Path caTokenFile = null;
    Duration certTtl = CERTIFICATE_TTL;
    String rootNamespace = null;
    String xds = null;
    boolean kubernetes = false;
    boolean inPod = false;
    Path zdsSocket = Path.of(envOr("INPOD_UDS", DEFAULT_ZDS_SOCKET));
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      try {
        switch (a) {
          case "--help", "-h" -> {
            usage(System.out);
            return 0;
          }
          case "--config" -> configs.add(Path.of(args[++i]));
          case "--xds" -> xds = args[++i];
          case "--kubernetes" -> kubernetes = true;
          case "--node" -> node = args[++i];
          case "--inpod" -> inPod = true;
          case "--zds-socket" -> zdsSocket = Path.of(args[++i]);
          case "--state-dir" -> stateDir = Path.of(args[++i]);
          case "--transport" -> transport = Transport.Kind.parse(args[++i]);
          case "--admin-address" -> adminAddress = InetAddress.ofLiteral(args[++i]);
          case "--ca-address" -> caAddress = args[++i];
          case "--root-namespace" -> rootNamespace = args[++i];
          case "--ca-token-file" -> caTokenFile = Path.of(args[++i]);
          case "--cert-ttl" -> certTtl = Duration.parse("PT" + args[++i].toUpperCase());
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
        System.err.println("mesh ztunnel: " + a + ": " + e.getMessage());
        return 2;
      }
    }
    int sources = (configs.isEmpty() ? 0 : 1) + (xds == null ? 0 : 1) + (kubernetes ? 1 : 0);
    if (sources != 1 || node == null || node.isEmpty()) {
      System.err.println("mesh ztunnel: --node NODE and one of --config FILE, --xds HOST:PORT or"
          + " --kubernetes are required");
      usage(System.err);
      return 2;
    }
    for (Path p : configs) {
      if (!Files.isReadable(p)) {
        System.err.println("mesh ztunnel: cannot read " + p);
        return 2;
      }
    }
    if ((caAddress == null) != (caTokenFile == null)) {
      System.err.println("mesh ztunnel: --ca-address and --ca-token-file go together");
      return 2;
    }
    if (caTokenFile != null && !Files.isReadable(caTokenFile)) {
      System.err.println("mesh ztunnel: cannot read the node token " + caTokenFile
          + " (mesh config-server writes it to <state-dir>/node-tokens/" + node + ".token)");
      return 2;
    }
    InetSocketAddress xdsServer;
    try {
      xdsServer = xds == null ? null : SocketAddresses.parse(xds, 1);
    } catch (IllegalArgumentException e) {
      System.err.println("mesh ztunnel: --xds " + e.getMessage());
      return 2;
    }
    SnapshotPublisher publisher = new SnapshotPublisher();
    CaClient caClient = null;
    CertificateManager certificates = null;
    String podName = envOr("POD_NAME", "ztunnel-" + node);
    String podNamespace = envOr("POD_NAMESPACE", "istio-system");
    String token;
    try {
      token = caTokenFile == null ? null : Files.readString(caTokenFile).strip();
    } catch (java.io.IOException e) {
      System.err.println("mesh ztunnel: cannot read " + caTokenFile + ": " + e.getMessage());
      return 2;
    }
    var sourceOptions = new ProxyConfigSources.Options(configs, xdsServer, "ztunnel", podName,
        podNamespace, node, token, stateDir.resolve("xds-cache-" + node + ".pb"));
    try (AutoCloseable ignored = kubernetes
        ? ProxyConfigSources.startKubernetes(publisher, XDS_READY_TIMEOUT)
        : ProxyConfigSources.start(sourceOptions, publisher, XDS_READY_TIMEOUT)) {
      MeshSnapshot snapshot = publisher.snapshot();
      snapshot.rejections().forEach(r -> System.err.println("mesh ztunnel: rejected " + r));
      if (snapshot.findNode(node).isEmpty()) {
        System.err.println("mesh ztunnel: warning: node '" + node + "' is not in the configuration");
      }
      IdentityProvider identities;
      if (caAddress != null) {
        caClient = CaClient.builder(caAddress).tokenFile(caTokenFile).build();
        certificates = CertificateManager.create(
            CertificateManager.fromCa(caClient, certTtl, ForkJoinPool.commonPool()));
        identities = certificates;
        System.err.println("mesh ztunnel: certificates from the CA at " + caAddress);
      } else {
        LocalCertificateAuthority ca = LocalCertificateAuthority.loadOrCreate(stateDir, snapshot.trustDomain());
        identities = ca.asIdentityProvider(certTtl);
      }
      Ztunnel.Builder builder = Ztunnel.builder()
          .node(node)
          .config(publisher)
          .identityProvider(identities)
          .transport(Transport.select(transport))
          .workerThreads(threads);
      if (adminAddress != null) {
        builder.adminAddress(adminAddress);
      }
      if (rootNamespace != null) {
        builder.rootNamespace(rootNamespace);
      }
      if (inPod) {
        builder.inPod(zdsSocket);
      }
      CountDownLatch stop = new CountDownLatch(1);
      try (Ztunnel ztunnel = builder.build().start()) {
        Thread hook = new Thread(stop::countDown, "ztunnel-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        System.err.println("mesh ztunnel: node " + node + " running; admin http://"
            + hostPort(ztunnel.adminAddress()) + "/config_dump, metrics http://"
            + hostPort(ztunnel.metricsAddress()) + "/metrics; Ctrl-C to stop");
        stop.await();
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
    out.println("readiness 15021 on the node's InternalIP.");
    out.println();
    out.println("  --config FILE        Kubernetes YAML (reloaded on change); repeatable");
    out.println("  --xds HOST:PORT      instead of --config: delta xDS from mesh config-server");
    out.println("                       (e.g. 127.0.0.1:15010); the last good set is cached in the");
    out.println("                       state dir and used when the server is down at start");
    out.println("  --kubernetes         instead of --config: watch the Kubernetes API directly");
    out.println("                       (in-cluster or the current kubeconfig; for small clusters");
    out.println("                       without a config server: every node watches the API server)");
    out.println("  --node NODE          the node to serve (default: $NODE_NAME)");
    out.println("  --state-dir DIR      where the local CA root is kept (default .mesh-state)");
    out.println("  --ca-address H:P     get workload certificates from mesh config-server's CA");
    out.println("                       (plaintext gRPC, e.g. 127.0.0.1:15010) instead of the local");
    out.println("                       CA: one EC P-256 key and CSR per local service account,");
    out.println("                       renewed at half-life");
    out.println("  --ca-token-file F    this node's bootstrap credential for the CA: the token");
    out.println("                       mesh config-server writes to");
    out.println("                       <its state dir>/node-tokens/<node>.token (0600); the CA");
    out.println("                       signs only identities of workloads on this node");
    out.println("  --cert-ttl D         certificate lifetime to ask for, e.g. 24h, 30m (default 24h)");
    out.println("  --root-namespace NS  Istio's root namespace for mesh-wide policies");
    out.println("                       (default istio-system)");
    out.println("  --inpod              in-pod mode (needs root): pods' network namespaces come");
    out.println("                       from the node agent (mesh cni-agent) over ZDS; listeners");
    out.println("                       and connections are opened inside each pod, marked 1337");
    out.println("  --zds-socket PATH    the node agent's ZDS socket (default $INPOD_UDS, else");
    out.println("                       " + DEFAULT_ZDS_SOCKET + ")");
    out.println("  --transport KIND     auto | epoll | io_uring | nio (default auto)");
    out.println("  --admin-address IP   bind admin/metrics/readiness here instead of the node IP");
    out.println("  --worker-threads N   event-loop threads (default 2, as ztunnel's workers)");
    out.println("  --help               this message");
  }
}
