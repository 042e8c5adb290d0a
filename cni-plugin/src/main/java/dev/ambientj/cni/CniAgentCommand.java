package dev.ambientj.cni;

import dev.ambientj.cni.agent.AgentProtocol;
import dev.ambientj.cni.agent.KubernetesRedirectionAnnotator;
import dev.ambientj.cni.agent.NodeAgent;
import dev.ambientj.cni.agent.ReadinessEndpoint;
import dev.ambientj.cni.agent.ZtunnelServer;
import dev.ambientj.cni.install.CniConfInstaller;
import dev.ambientj.cni.install.PluginPayloadInstaller;
import dev.ambientj.cni.redirect.CommandRunner;
import dev.ambientj.cni.redirect.InpodRedirect;
import dev.ambientj.config.FileConfigSource;
import dev.ambientj.config.ProxyFlags;
import dev.ambientj.config.SnapshotListener;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.SocketAddresses;
import dev.ambientj.config.cli.MeshCommandLine;
import dev.ambientj.config.cli.MeshVersion;
import dev.ambientj.config.kubernetes.KubernetesConfigSource;
import dev.ambientj.config.model.MeshSnapshot;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * Entry point of {@code ./mesh cni-agent (--config FILE... | --kubernetes) [--socket PATH]
 * [--state-dir DIR] [--zds-socket PATH | --no-zds] [--node NODE] [--host-proc DIR]}: the node
 * agent that the CNI plugin asks to enroll pods (needs root: it enters pods' network namespaces).
 * With a node name ({@code --node}, else {@code $NODE_NAME}) it also captures the enrolled pods of
 * that node that were running before it was installed, found by IP in {@code --host-proc}
 * (default {@code /proc}; the DaemonSet's is {@code /host/proc}). With {@code --kubernetes} it
 * watches the API server (in-cluster service account or the current kubeconfig) and writes the
 * {@code ambient.istio.io/redirection} annotation on the pods it captures. With {@code
 * --cni-net-dir DIR --cni-bin-dir DIR} it installs the plugin as istio-cni does: the executable
 * into the bin directory — with {@code --cni-plugin-payload DIR} also its runtime, jar and AOT
 * cache ({@link PluginPayloadInstaller}; the image's is {@code /app/cni}) — and its entry at the end
 * of the node's primary conflist, checked again every {@value #REINSTALL_SECONDS} s (a primary
 * plugin that rewrites its file drops our entry).
 * When the agent stops, the entry stays if this is a restart or an upgrade — a pod created
 * meanwhile fails its ADD (the plugin cannot reach the agent and is not fail-open) and the runtime
 * retries, rather than starting uncaptured — and goes if ambientj is being uninstalled, so that
 * the node's new pods get their network without it. As Istio's agent decides: with {@code
 * --kubernetes --daemonset NAME}, an uninstall is when the agent's DaemonSet ({@code NAME} in
 * {@code $POD_NAMESPACE}) is gone or marked for deletion; without {@code --daemonset} the entry
 * always stays.
 *
 * <p>Readiness ({@code --readiness-address ADDR:PORT}, the DaemonSet's {@code 0.0.0.0:8000},
 * {@link ReadinessEndpoint}): {@code /readyz} is 503 until the agent serves CNI — the mesh listed,
 * its socket bound, the plugin installed — then 200. With {@code --kubernetes} a slow or absent API
 * server is waited for, not a reason to exit: the source retries with back-off and logs the outage
 * once ({@link KubernetesConfigSource}); until it has listed the mesh the agent does not answer
 * CNI (a chained plugin's ADD fails and the runtime retries it: no pod starts uncaptured) and
 * stays not ready.
 */
@Command(name = "cni-agent", mixinStandardHelpOptions = true, sortOptions = false,
    versionProvider = MeshVersion.class, usageHelpAutoWidth = true,
    description = {
        "The CNI node agent (root): answers the CNI plugin, installs the in-pod redirection rules in"
            + " enrolled pods' network namespaces and hands them to ztunnel over ZDS, follows label"
            + " changes for running pods, captures the enrolled pods of its node that were already"
            + " running, and installs and chains the CNI plugin into the node's conflist."})
public final class CniAgentCommand implements Callable<Integer> {
  static final String PLUGIN_TYPE = "ambientj-cni";
  static final long REINSTALL_SECONDS = 30;
  /** Where the agent keeps the pods CNI told it about (survives an agent restart, not a reboot). */
  static final String DEFAULT_STATE_DIR = "/var/run/ambientj";
  /** How long SIGTERM waits for the shutdown (under the manifest's grace period of 5 s). */
  private static final long SHUTDOWN_WAIT_SECONDS = 4;

  @Spec CommandSpec spec;

  @Option(names = "--config", paramLabel = "FILE", order = 1,
      description = "Kubernetes YAML of the mesh, reloaded once quiet; repeatable")
  private List<Path> configs = new ArrayList<>();

  @Option(names = "--kubernetes", order = 2,
      description = "instead of --config: watch the Kubernetes API (in-cluster service account or"
          + " the current kubeconfig) and annotate captured pods (ambient.istio.io/redirection)")
  private boolean kubernetes;

  @Option(names = "--socket", paramLabel = "PATH", order = 3,
      description = "where the CNI plugin reaches the agent (default " + AgentProtocol.DEFAULT_SOCKET + ")")
  private Path socket = Path.of(AgentProtocol.DEFAULT_SOCKET);

  @Option(names = "--state-dir", paramLabel = "DIR", order = 4,
      description = "where the agent keeps the pods CNI told it about (default " + DEFAULT_STATE_DIR + ")")
  private Path stateDir = Path.of(DEFAULT_STATE_DIR);

  @Option(names = "--zds-socket", paramLabel = "PATH", order = 5,
      description = "where ztunnel --inpod connects for ZDS (default " + ZtunnelServer.DEFAULT_SOCKET + ")")
  private Path zdsSocket = Path.of(ZtunnelServer.DEFAULT_SOCKET);

  @Option(names = "--no-zds", order = 6, description = "serve no ZDS (no ztunnel --inpod on this node)")
  private boolean noZds;

  @Option(names = "--node", paramLabel = "NODE", order = 7,
      description = "this node, whose running enrolled pods are captured at start (default $NODE_NAME)")
  private String node = System.getenv("NODE_NAME");

  @Option(names = "--host-proc", paramLabel = "DIR", order = 8,
      description = "the host's /proc, where running pods are found by IP (default /proc; the"
          + " DaemonSet mounts the host's at /host/proc)")
  private Path hostProc = Path.of("/proc");

  @Option(names = "--readiness-address", paramLabel = "ADDR:PORT", order = 9,
      description = "serve /readyz here: 503 with the reason until the agent serves CNI, then 200")
  private String readinessAddress;

  @ArgGroup(validate = false, heading = "%nCNI plugin installation (as istio-cni; both directories"
      + " together):%n", order = 10)
  private Install install = new Install();

  static final class Install {
    @Option(names = "--cni-net-dir", paramLabel = "DIR", order = 1,
        description = "the node's CNI configuration directory, whose primary conflist gets our entry")
    Path cniNetDir;

    @Option(names = "--cni-bin-dir", paramLabel = "DIR", order = 2,
        description = "the node's CNI executables directory")
    Path cniBinDir;

    @Option(names = "--cni-plugin-payload", paramLabel = "DIR", order = 3,
        description = "install the plugin with its own Java runtime, jar and AOT cache from DIR"
            + " (the image's /app/cni)")
    Path cniPayload;

    @Option(names = "--cni-plugin", paramLabel = "FILE", order = 4,
        description = "install this single plugin executable instead")
    Path cniPlugin;

    @Option(names = "--daemonset", paramLabel = "NAME", order = 5,
        description = "with --kubernetes: the agent's DaemonSet in $POD_NAMESPACE; when it is gone"
            + " or being deleted at SIGTERM (an uninstall) the plugin is unchained")
    String daemonSet;
  }

  /** The command line of {@code mesh cni-agent}. */
  public static CommandLine commandLine() {
    return MeshCommandLine.create(new CniAgentCommand(), "cni-agent");
  }

  /** Runs the subcommand; returns the process exit code. */
  public static int run(String[] args) {
    return commandLine().execute(args);
  }

  @Override
  public Integer call() {
    Install i = install != null ? install : new Install();
    Path cniNetDir = i.cniNetDir;
    Path cniBinDir = i.cniBinDir;
    Path cniPlugin = i.cniPlugin;
    Path cniPayload = i.cniPayload;
    String daemonSet = i.daemonSet;
    boolean zds = !noZds;
    if ((cniNetDir == null) != (cniBinDir == null)
        || ((cniPlugin != null || cniPayload != null) && cniNetDir == null)
        || (cniPlugin != null && cniPayload != null)) {
      throw new ParameterException(spec.commandLine(), "--cni-net-dir and --cni-bin-dir go together"
          + " (--cni-plugin-payload or --cni-plugin, at most one, needs them)");
    }
    ProxyFlags sources = ProxyFlags.configOrKubernetes(configs, kubernetes);
    try {
      sources.validate();
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage());
    }
    java.net.InetSocketAddress readinessListen = null;
    if (readinessAddress != null) {
      try {
        readinessListen = SocketAddresses.parse(readinessAddress, 0);
      } catch (IllegalArgumentException e) {
        throw new ParameterException(spec.commandLine(), "--readiness-address " + e.getMessage());
      }
    }
    SnapshotPublisher publisher = new SnapshotPublisher();
    KubernetesClient client = null;
    KubernetesRedirectionAnnotator annotator = null;
    ReadinessEndpoint readiness = null;
    try {
      if (readinessListen != null) {
        readiness = ReadinessEndpoint.start(readinessListen);
        System.err.println("mesh cni-agent: readiness on http://"
            + readiness.address().getAddress().getHostAddress() + ":" + readiness.address().getPort()
            + "/readyz");
      }
      AutoCloseable source;
      if (kubernetes) {
        try {
          client = new KubernetesClientBuilder().build();
        } catch (KubernetesClientException e) {
          throw new IOException("Kubernetes client: " + e.getMessage(), e);
        }
        KubernetesConfigSource k = KubernetesConfigSource.open(client, publisher);
        source = k;
        System.err.println("mesh cni-agent: listing the mesh at " + client.getMasterUrl()
            + "; serving CNI once it is listed");
        awaitListed(k, readiness);
        annotator = new KubernetesRedirectionAnnotator(client);
      } else {
        source = FileConfigSource.start(configs, publisher);
      }
      try (AutoCloseable ignored = source;
          NodeAgent agent = NodeAgent.start(socket, publisher::snapshot,
              new InpodRedirect(CommandRunner.nsenter()), stateDir.resolve("cni-agent-pods"))) {
        if (annotator != null) {
          agent.annotator(annotator);
        }
        if (zds) {
          agent.zds(ZtunnelServer.start(zdsSocket));
          System.err.println("mesh cni-agent: ZDS for ztunnel --inpod on " + zdsSocket);
        }
        if (node != null && !node.isBlank()) {
          agent.adoptRunningPods(node, hostProc);
        } else {
          System.err.println("mesh cni-agent: no --node (or NODE_NAME): pods that were running"
              + " before this agent are captured only when they restart");
        }
        // also without ZDS: label changes add or remove the rules of running pods
        AutoCloseable following = publisher.subscribe(new SnapshotListener() {
          @Override
          public void onSnapshot(MeshSnapshot snapshot) {
            agent.reconcile(snapshot);
          }

          @Override
          public void onTransientError(String message) {
            System.err.println("mesh cni-agent: config error, keeping the current one: " + message);
          }
        });
        ScheduledExecutorService installer = null;
        if (cniNetDir != null) {
          installer = startInstaller(cniNetDir, cniBinDir, cniPlugin, cniPayload, agent.socket());
        }
        if (readiness != null) {
          readiness.ready();
        }
        CountDownLatch stop = new CountDownLatch(1);
        CountDownLatch stopped = new CountDownLatch(1);
        // The hook waits for the cleanup below: the JVM exits as soon as its hooks return.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
          stop.countDown();
          try {
            stopped.await(SHUTDOWN_WAIT_SECONDS, TimeUnit.SECONDS);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        }, "cni-agent-shutdown"));
        System.err.println("mesh cni-agent: listening on " + agent.socket());
        try {
          stop.await();
          if (installer != null) {
            installer.shutdownNow();
            uninstallUnlessUpgrade(client, daemonSet, cniNetDir);
          }
          following.close();
        } finally {
          stopped.countDown();
        }
        return 0;
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return 0;
    } catch (Exception e) {
      System.err.println("mesh cni-agent: " + e.getMessage());
      return 1;
    } finally {
      if (readiness != null) {
        readiness.close();
      }
      if (annotator != null) {
        annotator.close();
      }
      if (client != null) {
        client.close();
      }
    }
  }

  /**
   * Waits, for as long as it takes, until {@code source} has listed the mesh; {@code readiness}
   * (if any) says what it waits for meanwhile.
   */
  private static void awaitListed(KubernetesConfigSource source, ReadinessEndpoint readiness)
      throws InterruptedException, IOException {
    while (true) {
      if (readiness != null) {
        readiness.notReady("the mesh is not listed from the Kubernetes API yet: " + source.lastFailure());
      }
      try {
        source.synced().get(1, TimeUnit.SECONDS);
        return;
      } catch (java.util.concurrent.TimeoutException e) {
        // say the latest reason, wait on
      } catch (java.util.concurrent.ExecutionException | java.util.concurrent.CancellationException e) {
        throw new IOException("listing the mesh failed: " + e.getMessage(), e);
      }
    }
  }

  /**
   * On shutdown, takes our entry out of the node's conflist when ambientj is being uninstalled:
   * {@code daemonSet} (in {@code $POD_NAMESPACE}) gone or marked for deletion, as Istio's agent
   * decides ({@code ShouldStopForUpgrade}). A DaemonSet still there means a restart or an upgrade:
   * the entry stays, so no pod starts uncaptured meanwhile. When the API cannot say, it stays too.
   */
  private static void uninstallUnlessUpgrade(KubernetesClient client, String daemonSet, Path netDir) {
    if (client == null || daemonSet == null) {
      System.err.println("mesh cni-agent: stopping; " + PLUGIN_TYPE + " stays chained (no --kubernetes"
          + " --daemonset to tell an uninstall from an upgrade)");
      return;
    }
    String namespace = System.getenv("POD_NAMESPACE");
    if (namespace == null || namespace.isBlank()) {
      namespace = client.getNamespace();
    }
    try {
      var ds = client.apps().daemonSets().inNamespace(namespace).withName(daemonSet).get();
      if (ds != null && ds.getMetadata().getDeletionTimestamp() == null) {
        System.err.println("mesh cni-agent: stopping; DaemonSet " + namespace + "/" + daemonSet
            + " is still there (a restart or an upgrade): " + PLUGIN_TYPE + " stays chained");
        return;
      }
      CniConfInstaller.Change c = CniConfInstaller.uninstall(netDir, PLUGIN_TYPE);
      System.err.println("mesh cni-agent: stopping; DaemonSet " + namespace + "/" + daemonSet
          + (ds == null ? " is gone" : " is being deleted") + " (an uninstall): "
          + (c.written() ? "removed " + PLUGIN_TYPE + " from " : PLUGIN_TYPE + " was not in ") + c.file());
    } catch (KubernetesClientException | IOException e) {
      System.err.println("mesh cni-agent: stopping; cannot tell an uninstall from an upgrade ("
          + e.getMessage() + "): " + PLUGIN_TYPE + " stays chained");
    }
  }

  /**
   * Installs the plugin now (a failure is fatal: the node would start pods uncaptured) and again
   * every {@value #REINSTALL_SECONDS} s (a failure then is logged; the next round retries).
   */
  private static ScheduledExecutorService startInstaller(Path netDir, Path binDir, Path plugin,
      Path payloadDir, Path agentSocket) throws IOException {
    Map<String, Object> entry = new LinkedHashMap<>();
    entry.put("agentSocket", agentSocket.toString());
    entry.put("failOpen", false);
    PluginPayloadInstaller payload =
        payloadDir == null ? null : PluginPayloadInstaller.of(payloadDir, PLUGIN_TYPE);
    if (payload != null) {
      PluginPayloadInstaller.Result installed = payload.install(binDir);
      System.err.println("mesh cni-agent: " + PLUGIN_TYPE + " payload " + installed.version()
          + (installed.written() ? " installed" : " already installed"));
    }
    CniConfInstaller.Change first = CniConfInstaller.install(netDir, binDir, plugin, PLUGIN_TYPE, entry);
    System.err.println("mesh cni-agent: " + (first.written() ? "chained " + PLUGIN_TYPE + " into "
        : PLUGIN_TYPE + " already in ") + first.file());
    ScheduledExecutorService again = Executors.newSingleThreadScheduledExecutor(
        Thread.ofPlatform().daemon().name("cni-agent-install").factory());
    again.scheduleWithFixedDelay(() -> {
      try {
        if (payload != null && payload.install(binDir).written()) {
          System.err.println("mesh cni-agent: " + PLUGIN_TYPE + " payload in " + binDir
              + " was changed; installed " + payload.versionName() + " again");
        }
        CniConfInstaller.Change c = CniConfInstaller.install(netDir, binDir, plugin, PLUGIN_TYPE, entry);
        if (c.written()) {
          System.err.println("mesh cni-agent: our entry was missing; chained " + PLUGIN_TYPE
              + " into " + c.file() + " again");
        }
      } catch (IOException | RuntimeException e) {
        System.err.println("mesh cni-agent: CNI configuration not checked: " + e.getMessage());
      }
    }, REINSTALL_SECONDS, REINSTALL_SECONDS, TimeUnit.SECONDS);
    return again;
  }
}
