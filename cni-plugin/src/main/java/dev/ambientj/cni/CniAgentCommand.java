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
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

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
public final class CniAgentCommand {
  private static final String USAGE =
      "usage: mesh cni-agent (--config FILE... | --kubernetes) [--socket PATH] [--state-dir DIR]"
          + " [--zds-socket PATH | --no-zds] [--node NODE] [--host-proc DIR]"
          + " [--cni-net-dir DIR --cni-bin-dir DIR [--cni-plugin-payload DIR | --cni-plugin FILE]"
          + " [--daemonset NAME]] [--readiness-address ADDR:PORT]";
  static final String PLUGIN_TYPE = "ambientj-cni";
  static final long REINSTALL_SECONDS = 30;
  /** Where the agent keeps the pods CNI told it about (survives an agent restart, not a reboot). */
  static final String DEFAULT_STATE_DIR = "/var/run/ambientj";
  /** How long SIGTERM waits for the shutdown (under the manifest's grace period of 5 s). */
  private static final long SHUTDOWN_WAIT_SECONDS = 4;

  private CniAgentCommand() {}

  /** Runs the subcommand; returns the process exit code. */
  public static int run(String[] args) {
    ProxyFlags sources = ProxyFlags.configOrKubernetes();
    Path socket = Path.of(AgentProtocol.DEFAULT_SOCKET);
    Path zdsSocket = Path.of(ZtunnelServer.DEFAULT_SOCKET);
    Path stateDir = Path.of(DEFAULT_STATE_DIR);
    boolean zds = true;
    String node = System.getenv("NODE_NAME");
    Path hostProc = Path.of("/proc");
    Path cniNetDir = null;
    Path cniBinDir = null;
    Path cniPlugin = null;
    Path cniPayload = null;
    String daemonSet = null;
    String readinessAddress = null;
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      int used;
      try {
        used = sources.accept(args, i); // --config FILE, --kubernetes
      } catch (IllegalArgumentException e) {
        System.err.println("mesh cni-agent: " + e.getMessage());
        System.err.println(USAGE);
        return 2;
      }
      if (used >= 0) {
        i = used;
        continue;
      }
      if ((a.equals("--socket") || a.equals("--zds-socket") || a.equals("--state-dir")
          || a.equals("--node") || a.equals("--host-proc") || a.startsWith("--cni-")
          || a.equals("--daemonset") || a.equals("--readiness-address"))
          && i + 1 < args.length) {
        switch (a) {
          case "--node" -> node = args[++i];
          case "--host-proc" -> hostProc = Path.of(args[++i]);
          case "--socket" -> socket = Path.of(args[++i]);
          case "--state-dir" -> stateDir = Path.of(args[++i]);
          case "--zds-socket" -> zdsSocket = Path.of(args[++i]);
          case "--cni-net-dir" -> cniNetDir = Path.of(args[++i]);
          case "--cni-bin-dir" -> cniBinDir = Path.of(args[++i]);
          case "--cni-plugin" -> cniPlugin = Path.of(args[++i]);
          case "--cni-plugin-payload" -> cniPayload = Path.of(args[++i]);
          case "--daemonset" -> daemonSet = args[++i];
          case "--readiness-address" -> readinessAddress = args[++i];
          default -> {
            System.err.println("mesh cni-agent: unknown argument '" + a + "'");
            System.err.println(USAGE);
            return 2;
          }
        }
      } else if (a.equals("--no-zds")) {
        zds = false;
      } else {
        System.err.println("mesh cni-agent: unknown or incomplete argument '" + a + "'");
        System.err.println(USAGE);
        return 2;
      }
    }
    if ((cniNetDir == null) != (cniBinDir == null)
        || ((cniPlugin != null || cniPayload != null) && cniNetDir == null)
        || (cniPlugin != null && cniPayload != null)) {
      System.err.println("mesh cni-agent: --cni-net-dir and --cni-bin-dir go together"
          + " (--cni-plugin-payload or --cni-plugin, at most one, needs them)");
      System.err.println(USAGE);
      return 2;
    }
    try {
      sources.validate();
    } catch (IllegalArgumentException e) {
      System.err.println("mesh cni-agent: " + e.getMessage());
      System.err.println(USAGE);
      return 2;
    }
    java.net.InetSocketAddress readinessListen = null;
    if (readinessAddress != null) {
      try {
        readinessListen = SocketAddresses.parse(readinessAddress, 0);
      } catch (IllegalArgumentException e) {
        System.err.println("mesh cni-agent: --readiness-address " + e.getMessage());
        System.err.println(USAGE);
        return 2;
      }
    }
    List<Path> configs = sources.configs();
    boolean kubernetes = sources.kubernetes();
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
