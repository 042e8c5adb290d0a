package dev.ambientj.it.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.KeyToPath;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.PodConditionBuilder;
import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.VolumeProjection;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The kubelet's work for one pod on one node, on its own thread: the sandbox (a network namespace
 * wired by the node's CNI chain, or the node's own for {@code hostNetwork}), the Pod's IPs and
 * phase in the API, its volumes, its containers (restarted with back-off when they exit), their
 * probes and the Ready condition; on {@link #stop} SIGTERM → grace → SIGKILL, CNI DEL, the sandbox
 * deleted.
 */
final class PodWorker {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern VAR = Pattern.compile("\\$\\$|\\$\\(([A-Za-z_][A-Za-z0-9_.-]*)\\)");
  private static final String SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
  /** The kubelet's container restart back-off: 10 s, doubled per restart, at most 5 min. */
  private static final Duration BACKOFF_START = Duration.ofSeconds(10);

  final Pod pod;
  final String uid;
  final String namespace;
  final String name;
  final SimNode node;
  private final Cluster cluster;
  private final Path dir;
  private final Map<String, AtomicVolume> volumes = new ConcurrentHashMap<>();
  private final Map<String, String> issuedTokens = new HashMap<>();
  private final Map<String, Slot> slots = new LinkedHashMap<>();
  private final List<String> events = java.util.Collections.synchronizedList(new ArrayList<>());
  private final CountDownLatch stopped = new CountDownLatch(1);
  private final Instant created = Instant.now();
  private volatile boolean stopping;
  private volatile boolean terminated;
  private volatile String netns;
  private volatile String podIp;
  private String cniResult;
  private String cniConfig;
  private Path hostsFile;
  private Instant readySince;

  /** One container of the pod and its current run. */
  private static final class Slot {
    final Container spec;
    ContainerRun run;
    int restarts;
    long restartAt;
    Probe readiness;
    Probe liveness;
    Probe startup;
    String lastExit;

    Slot(Container spec) {
      this.spec = spec;
    }

    boolean ready() {
      return run != null && run.alive() && (startup == null || startup.passing())
          && (readiness == null || readiness.passing());
    }
  }

  PodWorker(Cluster cluster, SimNode node, Pod pod) {
    this.cluster = cluster;
    this.node = node;
    this.pod = pod;
    this.uid = pod.getMetadata().getUid();
    this.namespace = pod.getMetadata().getNamespace();
    this.name = pod.getMetadata().getName();
    this.dir = cluster.workDir().resolve("pods").resolve(node.name).resolve(namespace + "_" + name + "_" + uid);
    for (Container c : pod.getSpec().getContainers()) {
      slots.put(c.getName(), new Slot(c));
    }
  }

  String key() {
    return namespace + "/" + name;
  }

  String podIp() {
    return podIp;
  }

  String netns() {
    return netns;
  }

  boolean hostNetwork() {
    return Boolean.TRUE.equals(pod.getSpec().getHostNetwork());
  }

  /** When all its containers were first ready, or null. */
  synchronized Instant readySince() {
    return readySince;
  }

  /** Whether {@link #stop} has finished: containers gone, network torn down. */
  boolean terminated() {
    return terminated;
  }

  Instant created() {
    return created;
  }

  /** What happened to it, for failure messages. */
  String describe() {
    StringBuilder b = new StringBuilder("pod " + key() + " on " + node.name + " (ip " + podIp + ")\n  events:");
    synchronized (events) {
      events.forEach(e -> b.append("\n    ").append(e));
    }
    synchronized (this) {
      for (Slot s : slots.values()) {
        b.append("\n  container ").append(s.spec.getName()).append(": restarts ").append(s.restarts)
            .append(s.lastExit == null ? "" : ", last exit " + s.lastExit)
            .append(s.readiness == null ? "" : ", readiness: " + s.readiness.lastResult())
            .append(s.startup == null ? "" : ", startup: " + s.startup.lastResult());
        if (s.run != null) {
          b.append("\n  --- log of ").append(s.spec.getName()).append(" (last 60 lines) ---\n")
              .append(s.run.tail(60));
        }
      }
    }
    return b.toString();
  }

  /** Restarts of all its containers (the kubelet's restartCount, summed). */
  synchronized int restarts() {
    return slots.values().stream().mapToInt(s -> s.restarts).sum();
  }

  Path logOf(String container) {
    return node.logs.resolve(namespace + "_" + name + "_" + container + ".log");
  }

  /** The main process id of {@code container}, or -1. */
  synchronized long pid(String container) {
    Slot s = slots.get(container);
    return s == null || s.run == null || !s.run.alive() ? -1 : s.run.pid();
  }

  synchronized Map<String, String> containerEnv(String container) throws IOException {
    return env(slots.get(container).spec);
  }

  void event(String what) {
    String line = Duration.between(cluster.started(), Instant.now()).toMillis() / 1000.0 + "s " + what;
    events.add(line);
    cluster.log(key() + "@" + node.name + ": " + what);
  }

  void start() {
    Thread.ofPlatform().name("kubelet-" + node.name + "-" + name).daemon(true).start(this::run);
  }

  private void run() {
    try {
      Files.createDirectories(dir);
      while (!stopping && !sandbox()) {
        pause(Duration.ofSeconds(2));
      }
      while (!stopping && !prepareVolumes()) {
        pause(Duration.ofSeconds(1));
      }
      if (stopping) {
        return;
      }
      writeHosts();
      synchronized (this) {
        for (Slot s : slots.values()) {
          startContainer(s);
        }
      }
      updateStatus();
      long nextVolumeSync = System.nanoTime();
      while (!stopping) {
        boolean changed = false;
        synchronized (this) {
          for (Slot s : slots.values()) {
            changed |= tend(s);
          }
          boolean allReady = slots.values().stream().allMatch(Slot::ready);
          if (allReady && readySince == null) {
            readySince = Instant.now();
            event("ready " + Duration.between(created, readySince).toMillis() + " ms after the pod was created");
            changed = true;
          } else if (!allReady && readySince != null) {
            readySince = null;
            event("not ready");
            changed = true;
          }
        }
        if (changed) {
          updateStatus();
        }
        if (System.nanoTime() >= nextVolumeSync) {
          nextVolumeSync = System.nanoTime() + 1_000_000_000L;
          prepareVolumes();
          writeHosts();
        }
        pause(Duration.ofMillis(100));
      }
    } catch (Exception e) {
      event("kubelet error: " + e);
    } finally {
      stopped.countDown();
    }
  }

  /** One container's turn: restart it if it exited, run its due probes. Returns whether status changed. */
  private boolean tend(Slot s) throws IOException {
    if (s.run != null && !s.run.alive()) {
      s.lastExit = "code " + s.run.exitCode() + " at " + Instant.now();
      event("container " + s.spec.getName() + " exited with " + s.run.exitCode() + "; last lines:\n" + s.run.tail(15));
      s.run = null;
      s.restarts++;
      long backoff = Math.min(BACKOFF_START.toMillis() << Math.min(s.restarts - 1, 5), 300_000);
      s.restartAt = System.nanoTime() + backoff * 1_000_000;
      event("back-off " + backoff + " ms restarting failed container " + s.spec.getName());
      return true;
    }
    if (s.run == null) {
      if (System.nanoTime() >= s.restartAt) {
        startContainer(s);
        return true;
      }
      return false;
    }
    boolean before = s.ready();
    if (s.startup != null && !s.startup.passing()) {
      s.startup.runIfDue(podIp, this::dial);
      if (!s.startup.passing() && s.startup.failures() >= s.startup.failureThreshold()) {
        event("container " + s.spec.getName() + " failed its startup probe: " + s.startup.lastResult() + "; killing it");
        s.run.terminate(grace());
      }
      return before != s.ready();
    }
    if (s.readiness != null && s.readiness.runIfDue(podIp, this::dial) && s.readiness.passing() != before) {
      event("container " + s.spec.getName() + " readiness " + (s.readiness.passing() ? "passed" : "failed: " + s.readiness.lastResult()));
    }
    if (s.liveness != null && s.liveness.runIfDue(podIp, this::dial) && !s.liveness.passing()
        && s.liveness.failures() >= s.liveness.failureThreshold()) {
      event("container " + s.spec.getName() + " failed its liveness probe: " + s.liveness.lastResult() + "; killing it");
      s.run.terminate(grace());
    }
    return before != s.ready();
  }

  private java.net.Socket dial(java.net.InetSocketAddress to, int timeoutMillis) throws IOException {
    return cluster.dialFrom(node, to, timeoutMillis);
  }

  private void startContainer(Slot s) throws IOException {
    Container c = s.spec;
    Images.Image image = cluster.images().forName(c.getImage());
    Map<String, String> env = env(c);
    List<String> command = new ArrayList<>();
    if (c.getCommand() != null && !c.getCommand().isEmpty()) {
      c.getCommand().forEach(a -> command.add(expand(a, env)));
    } else {
      command.addAll(image.entrypoint());
    }
    if (c.getArgs() != null) {
      c.getArgs().forEach(a -> command.add(expand(a, env)));
    }
    if (c.getWorkingDir() != null && !c.getWorkingDir().equals("/")) {
      throw new IOException("container " + c.getName() + ": workingDir is not run by the harness");
    }
    List<ContainerRun.Mount> mounts = mounts(c);
    ContainerRun.Security security = security(c);
    Path rootfs = dir.resolve("containers").resolve(c.getName()).resolve("rootfs");
    s.run = ContainerRun.start(c.getName(), rootfs, image, mounts, env, security, netns, command, logOf(c.getName()));
    long now = System.nanoTime();
    s.readiness = c.getReadinessProbe() == null ? null : new Probe("readiness", c.getReadinessProbe(), c, now);
    s.liveness = c.getLivenessProbe() == null ? null : new Probe("liveness", c.getLivenessProbe(), c, now);
    s.startup = c.getStartupProbe() == null ? null : new Probe("startup", c.getStartupProbe(), c, now);
    event("started container " + c.getName() + " (pid " + s.run.pid() + "): " + command);
  }

  // --- sandbox -------------------------------------------------------------------------------

  /** Makes the pod's network; false (with an event) when CNI ADD failed and should be retried. */
  private boolean sandbox() throws IOException {
    if (hostNetwork()) {
      netns = node.netns;
      podIp = node.ip;
      event("sandbox: host network of " + node.name);
      updateStatus();
      return true;
    }
    if (netns == null) {
      netns = cluster.podNetnsName();
      Sh.run("ip", "netns", "add", netns);
      Sh.inNetns(netns, "ip", "link", "set", "lo", "up");
    }
    try {
      cniResult = cni("ADD");
      JsonNode ips = JSON.readTree(cniResult).path("ips");
      podIp = ips.get(0).path("address").asText().split("/")[0];
      event("sandbox: network namespace " + netns + ", CNI ADD gave " + podIp);
      updateStatus();
      return true;
    } catch (IOException e) {
      event("FailedCreatePodSandBox: " + e.getMessage());
      // as the runtime does: DEL for the whole chain, a new sandbox for the next attempt
      try {
        cniResult = null;
        cni("DEL");
      } catch (IOException del) {
        event("CNI DEL after the failed ADD: " + del.getMessage());
      }
      Sh.run("ip", "netns", "del", netns);
      netns = null;
      return false;
    }
  }

  /**
   * Runs the node's active conflist as libcni does: each plugin in order with {@code name},
   * {@code cniVersion} and the previous plugin's result as {@code prevResult} (ADD), or in reverse
   * with the cached ADD result (DEL). Returns the last result.
   */
  private String cni(String command) throws IOException {
    String conf = command.equals("ADD") ? Files.readString(node.activeConflist()) : cniConfig;
    if (conf == null) {
      return "";
    }
    cniConfig = conf;
    JsonNode list = JSON.readTree(conf);
    List<JsonNode> plugins = new ArrayList<>();
    list.path("plugins").forEach(plugins::add);
    if (command.equals("DEL")) {
      java.util.Collections.reverse(plugins);
    }
    String result = command.equals("DEL") ? cniResult : null;
    Map<String, String> env = Map.of("CNI_COMMAND", command, "CNI_CONTAINERID", "harness-" + uid,
        "CNI_NETNS", "/var/run/netns/" + netns, "CNI_IFNAME", "eth0",
        "CNI_PATH", node.hostPath("/opt/cni/bin").toString(),
        "CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + namespace + ";K8S_POD_NAME=" + name
            + ";K8S_POD_INFRA_CONTAINER_ID=harness-" + uid + ";K8S_POD_UID=" + uid);
    List<String> errors = new ArrayList<>();
    for (JsonNode p : plugins) {
      ObjectNode c = ((ObjectNode) p).deepCopy();
      c.put("cniVersion", list.path("cniVersion").asText());
      c.put("name", list.path("name").asText());
      if (result != null && !result.isBlank()) {
        c.set("prevResult", JSON.readTree(result));
      }
      String type = p.path("type").asText();
      Path exe = node.hostPath("/opt/cni/bin").resolve(type);
      Sh.Result r = node.runCniPlugin(exe, env, JSON.writeValueAsString(c));
      if (!r.ok()) {
        String msg = "CNI " + command + " of plugin " + type + " exited " + r.exit() + ": " + r.out().strip() + " " + r.err().strip();
        if (command.equals("ADD")) {
          throw new IOException(msg);
        }
        errors.add(msg);
        continue;
      }
      if (command.equals("ADD")) {
        result = r.out();
      }
    }
    if (!errors.isEmpty()) {
      throw new IOException(String.join("; ", errors));
    }
    return result;
  }

  // --- volumes -------------------------------------------------------------------------------

  /** Writes every ConfigMap/Secret/projected volume; false if a source it needs is missing. */
  private boolean prepareVolumes() {
    List<Volume> all = new ArrayList<>(pod.getSpec().getVolumes());
    boolean ok = true;
    for (Volume v : all) {
      try {
        Map<String, byte[]> files = contents(v);
        if (files == null) {
          continue; // not a file-content volume
        }
        int mode = defaultMode(v);
        AtomicVolume av = volumes.computeIfAbsent(v.getName(), n -> {
          try {
            return new AtomicVolume(dir.resolve("volumes").resolve(n));
          } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
        });
        if (av.write(files, mode) && slots.values().stream().anyMatch(s -> s.run != null)) {
          event("volume " + v.getName() + " updated (..data swapped)");
        }
      } catch (MissingSource e) {
        if (!volumes.containsKey(v.getName())) {
          if (!Objects.equals(lastMissing, e.getMessage())) {
            event("FailedMount: " + e.getMessage());
            lastMissing = e.getMessage();
          }
          ok = false;
        }
      } catch (IOException | RuntimeException e) {
        event("FailedMount of volume " + v.getName() + ": " + e);
        ok = false;
      }
    }
    if (automountToken() && !volumes.containsKey("kube-api-access")) {
      try {
        AtomicVolume av = new AtomicVolume(dir.resolve("volumes").resolve("kube-api-access"));
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("token", token("kube-api-access", "https://kubernetes.default.svc.cluster.local", 3607L));
        files.put("ca.crt", Files.readAllBytes(cluster.api().caCertificate()));
        files.put("namespace", namespace.getBytes(StandardCharsets.UTF_8));
        av.write(files, 0644);
        volumes.put("kube-api-access", av);
      } catch (IOException e) {
        event("FailedMount of the service-account token: " + e);
        ok = false;
      }
    }
    return ok;
  }

  private String lastMissing;

  private static final class MissingSource extends IOException {
    MissingSource(String message) {
      super(message);
    }
  }

  private int defaultMode(Volume v) {
    Integer m = v.getConfigMap() != null ? v.getConfigMap().getDefaultMode()
        : v.getSecret() != null ? v.getSecret().getDefaultMode()
        : v.getProjected() != null ? v.getProjected().getDefaultMode() : null;
    return m == null ? 0644 : m;
  }

  private boolean automountToken() {
    return !Boolean.FALSE.equals(pod.getSpec().getAutomountServiceAccountToken());
  }

  /** The files of a content volume (null for other kinds). */
  private Map<String, byte[]> contents(Volume v) throws IOException {
    Map<String, byte[]> files = new LinkedHashMap<>();
    if (v.getConfigMap() != null) {
      var src = v.getConfigMap();
      addConfigMap(files, src.getName(), src.getItems(), Boolean.TRUE.equals(src.getOptional()), v.getName());
      return files;
    }
    if (v.getSecret() != null) {
      var src = v.getSecret();
      addSecret(files, src.getSecretName(), src.getItems(), Boolean.TRUE.equals(src.getOptional()), v.getName());
      return files;
    }
    if (v.getProjected() != null) {
      for (VolumeProjection p : v.getProjected().getSources()) {
        if (p.getServiceAccountToken() != null) {
          var t = p.getServiceAccountToken();
          long exp = t.getExpirationSeconds() == null ? 3600 : t.getExpirationSeconds();
          String aud = t.getAudience() == null ? "https://kubernetes.default.svc.cluster.local" : t.getAudience();
          files.put(t.getPath(), token(v.getName() + "/" + t.getPath(), aud, exp));
        } else if (p.getConfigMap() != null) {
          addConfigMap(files, p.getConfigMap().getName(), p.getConfigMap().getItems(),
              Boolean.TRUE.equals(p.getConfigMap().getOptional()), v.getName());
        } else if (p.getSecret() != null) {
          addSecret(files, p.getSecret().getName(), p.getSecret().getItems(),
              Boolean.TRUE.equals(p.getSecret().getOptional()), v.getName());
        } else {
          throw new IOException("projected source not run by the harness: " + p);
        }
      }
      return files;
    }
    return null;
  }

  private byte[] token(String key, String audience, long expirationSeconds) {
    String t = issuedTokens.computeIfAbsent(key, k -> cluster.api().issueToken(namespace,
        serviceAccount(), name, uid, node.name, audience, expirationSeconds));
    return t.getBytes(StandardCharsets.UTF_8);
  }

  private String serviceAccount() {
    String sa = pod.getSpec().getServiceAccountName();
    return sa == null || sa.isEmpty() ? "default" : sa;
  }

  private void addConfigMap(Map<String, byte[]> files, String cmName, List<KeyToPath> items, boolean optional,
      String volume) throws IOException {
    ConfigMap cm = cluster.client().configMaps().inNamespace(namespace).withName(cmName).get();
    if (cm == null) {
      if (optional) {
        return;
      }
      throw new MissingSource("volume " + volume + ": configmap " + namespace + "/" + cmName + " not found");
    }
    Map<String, byte[]> data = new LinkedHashMap<>();
    if (cm.getData() != null) {
      cm.getData().forEach((k, val) -> data.put(k, val.getBytes(StandardCharsets.UTF_8)));
    }
    if (cm.getBinaryData() != null) {
      cm.getBinaryData().forEach((k, val) -> data.put(k, Base64.getDecoder().decode(val)));
    }
    select(files, data, items);
  }

  private void addSecret(Map<String, byte[]> files, String secretName, List<KeyToPath> items, boolean optional,
      String volume) throws IOException {
    Secret s = cluster.client().secrets().inNamespace(namespace).withName(secretName).get();
    if (s == null) {
      if (optional) {
        return;
      }
      throw new MissingSource("volume " + volume + ": secret " + namespace + "/" + secretName + " not found");
    }
    Map<String, byte[]> data = new LinkedHashMap<>();
    if (s.getData() != null) {
      s.getData().forEach((k, val) -> data.put(k, Base64.getDecoder().decode(val)));
    }
    if (s.getStringData() != null) {
      s.getStringData().forEach((k, val) -> data.put(k, val.getBytes(StandardCharsets.UTF_8)));
    }
    select(files, data, items);
  }

  private static void select(Map<String, byte[]> files, Map<String, byte[]> data, List<KeyToPath> items) {
    if (items == null || items.isEmpty()) {
      files.putAll(data);
      return;
    }
    for (KeyToPath i : items) {
      if (data.containsKey(i.getKey())) {
        files.put(i.getPath(), data.get(i.getKey()));
      }
    }
  }

  private List<ContainerRun.Mount> mounts(Container c) throws IOException {
    List<ContainerRun.Mount> mounts = new ArrayList<>();
    boolean saMounted = false;
    for (VolumeMount vm : c.getVolumeMounts()) {
      Volume v = pod.getSpec().getVolumes().stream().filter(x -> x.getName().equals(vm.getName())).findFirst()
          .orElseThrow(() -> new IOException("container " + c.getName() + " mounts unknown volume " + vm.getName()));
      Path source;
      boolean ro = Boolean.TRUE.equals(vm.getReadOnly());
      if (v.getHostPath() != null) {
        source = node.hostPath(v.getHostPath().getPath());
        String type = v.getHostPath().getType() == null ? "" : v.getHostPath().getType();
        if (type.equals("DirectoryOrCreate")) {
          Files.createDirectories(source);
        } else if (type.equals("Directory") && !Files.isDirectory(source)) {
          throw new IOException("hostPath " + v.getHostPath().getPath() + " is not a directory on " + node.name);
        }
      } else if (v.getEmptyDir() != null) {
        source = Files.createDirectories(dir.resolve("volumes").resolve(v.getName()));
      } else if (volumes.containsKey(v.getName())) {
        source = volumes.get(v.getName()).dir();
        ro = true; // configMap, secret and projected volumes are always read-only
      } else {
        throw new IOException("volume " + v.getName() + " of a kind the harness does not run: " + v);
      }
      if (vm.getSubPath() != null && !vm.getSubPath().isEmpty()) {
        source = source.resolve(vm.getSubPath());
      }
      saMounted |= vm.getMountPath().equals(SA_DIR);
      mounts.add(new ContainerRun.Mount(source, vm.getMountPath(), ro, true));
    }
    if (automountToken() && !saMounted) {
      mounts.add(new ContainerRun.Mount(volumes.get("kube-api-access").dir(), SA_DIR, true, false));
    }
    mounts.add(new ContainerRun.Mount(hostsFile, "/etc/hosts", true, false));
    mounts.sort(Comparator.comparingInt(m -> m.target().length()));
    return mounts;
  }

  /**
   * The harness's cluster DNS: every Service's names at its cluster IP, in a kubelet-managed
   * {@code /etc/hosts} (rewritten in place, so the bind mount sees the change).
   */
  private void writeHosts() throws IOException {
    if (hostsFile == null) {
      hostsFile = dir.resolve("etc-hosts");
    }
    StringBuilder b = new StringBuilder("# Kubernetes-managed hosts file (node harness: also the cluster DNS)\n"
        + "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    b.append(podIp).append('\t').append(hostNetwork() ? node.name : name).append('\n');
    for (Service s : cluster.services()) {
      String ip = s.getSpec().getClusterIP();
      if (ip == null || ip.isEmpty() || ip.equals("None")) {
        continue;
      }
      String n = s.getMetadata().getName();
      String ns = s.getMetadata().getNamespace();
      b.append(ip).append('\t').append(n).append('.').append(ns).append(".svc.cluster.local ")
          .append(n).append('.').append(ns).append(".svc ").append(n).append('.').append(ns)
          .append(ns.equals(namespace) ? " " + n : "").append('\n');
    }
    byte[] content = b.toString().getBytes(StandardCharsets.UTF_8);
    if (!Files.exists(hostsFile) || !java.util.Arrays.equals(Files.readAllBytes(hostsFile), content)) {
      Files.write(hostsFile, content); // in place: truncate and write, same inode
    }
  }

  // --- env and security ----------------------------------------------------------------------

  private Map<String, String> env(Container c) throws IOException {
    Images.Image image = cluster.images().forName(c.getImage());
    Map<String, String> env = new LinkedHashMap<>(image.env());
    env.put("HOSTNAME", hostNetwork() ? node.name : name);
    String vip = cluster.kubernetesServiceVip();
    env.put("KUBERNETES_SERVICE_HOST", vip);
    env.put("KUBERNETES_SERVICE_PORT", "443");
    env.put("KUBERNETES_SERVICE_PORT_HTTPS", "443");
    env.put("KUBERNETES_PORT", "tcp://" + vip + ":443");
    env.put("KUBERNETES_PORT_443_TCP", "tcp://" + vip + ":443");
    env.put("KUBERNETES_PORT_443_TCP_PROTO", "tcp");
    env.put("KUBERNETES_PORT_443_TCP_PORT", "443");
    env.put("KUBERNETES_PORT_443_TCP_ADDR", vip);
    Map<String, String> own = new LinkedHashMap<>();
    for (EnvVar e : c.getEnv()) {
      String value;
      if (e.getValueFrom() == null) {
        value = e.getValue() == null ? "" : expand(e.getValue(), merged(env, own));
      } else if (e.getValueFrom().getFieldRef() != null) {
        value = field(e.getValueFrom().getFieldRef().getFieldPath());
      } else if (e.getValueFrom().getResourceFieldRef() != null) {
        value = resource(c, e.getValueFrom().getResourceFieldRef());
      } else if (e.getValueFrom().getConfigMapKeyRef() != null) {
        var ref = e.getValueFrom().getConfigMapKeyRef();
        ConfigMap cm = cluster.client().configMaps().inNamespace(namespace).withName(ref.getName()).get();
        value = cm == null || cm.getData() == null ? null : cm.getData().get(ref.getKey());
        if (value == null) {
          throw new IOException("env " + e.getName() + ": configmap " + ref.getName() + " key " + ref.getKey() + " not found");
        }
      } else {
        throw new IOException("env " + e.getName() + ": valueFrom not run by the harness: " + e.getValueFrom());
      }
      own.put(e.getName(), value);
    }
    env.putAll(own);
    return env;
  }

  private static Map<String, String> merged(Map<String, String> a, Map<String, String> b) {
    Map<String, String> m = new HashMap<>(a);
    m.putAll(b);
    return m;
  }

  /** The downward API's fieldRef values the kubelet resolves. */
  private String field(String path) throws IOException {
    Matcher label = Pattern.compile("metadata\\.(labels|annotations)\\['(.+)'\\]").matcher(path);
    if (label.matches()) {
      Map<String, String> m = label.group(1).equals("labels") ? pod.getMetadata().getLabels() : pod.getMetadata().getAnnotations();
      return m == null ? "" : m.getOrDefault(label.group(2), "");
    }
    return switch (path) {
      case "metadata.name" -> name;
      case "metadata.namespace" -> namespace;
      case "metadata.uid" -> uid;
      case "spec.nodeName" -> node.name;
      case "spec.serviceAccountName" -> serviceAccount();
      case "status.podIP", "status.podIPs" -> podIp;
      case "status.hostIP", "status.hostIPs" -> node.ip;
      default -> throw new IOException("fieldRef " + path + " is not resolved by the harness");
    };
  }

  /** resourceFieldRef: the container's limit (else the node's allocatable) or request, over the divisor. */
  private String resource(Container c, io.fabric8.kubernetes.api.model.ResourceFieldSelector ref) {
    String res = ref.getResource();
    Map<String, Quantity> limits = c.getResources() == null || c.getResources().getLimits() == null
        ? Map.of() : c.getResources().getLimits();
    Map<String, Quantity> requests = c.getResources() == null || c.getResources().getRequests() == null
        ? Map.of() : c.getResources().getRequests();
    String what = res.substring(res.indexOf('.') + 1);
    Quantity q = res.startsWith("limits.") ? limits.get(what) : requests.get(what);
    if (q == null) {
      q = res.startsWith("limits.") ? cluster.allocatable(what) : new Quantity("0");
    }
    BigDecimal amount = Quantity.getAmountInBytes(q);
    BigDecimal divisor = ref.getDivisor() == null ? BigDecimal.ONE : Quantity.getAmountInBytes(ref.getDivisor());
    return amount.divide(divisor, 0, RoundingMode.CEILING).toPlainString();
  }

  /** {@code $(VAR)} of an env value, command or arg, as the kubelet expands it. */
  static String expand(String s, Map<String, String> env) {
    Matcher m = VAR.matcher(s);
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      String rep;
      if (m.group().equals("$$")) {
        rep = "$";
      } else {
        rep = env.containsKey(m.group(1)) ? env.get(m.group(1)) : m.group();
      }
      m.appendReplacement(out, Matcher.quoteReplacement(rep));
    }
    m.appendTail(out);
    return out.toString();
  }

  private ContainerRun.Security security(Container c) {
    SecurityContext sc = c.getSecurityContext();
    var psc = pod.getSpec().getSecurityContext();
    long uid = sc != null && sc.getRunAsUser() != null ? sc.getRunAsUser()
        : psc != null && psc.getRunAsUser() != null ? psc.getRunAsUser() : 0;
    long gid = sc != null && sc.getRunAsGroup() != null ? sc.getRunAsGroup()
        : psc != null && psc.getRunAsGroup() != null ? psc.getRunAsGroup() : 0;
    boolean privileged = sc != null && Boolean.TRUE.equals(sc.getPrivileged());
    List<String> add = sc == null || sc.getCapabilities() == null || sc.getCapabilities().getAdd() == null
        ? List.of() : sc.getCapabilities().getAdd();
    List<String> drop = sc == null || sc.getCapabilities() == null || sc.getCapabilities().getDrop() == null
        ? List.of() : sc.getCapabilities().getDrop();
    boolean nnp = sc != null && Boolean.FALSE.equals(sc.getAllowPrivilegeEscalation());
    boolean roRoot = sc != null && Boolean.TRUE.equals(sc.getReadOnlyRootFilesystem());
    return new ContainerRun.Security(uid, gid, privileged, ContainerRun.capabilities(add, drop), nnp, roRoot);
  }

  private Duration grace() {
    Long g = pod.getSpec().getTerminationGracePeriodSeconds();
    return Duration.ofSeconds(g == null ? 30 : g);
  }

  // --- status ----------------------------------------------------------------------------------

  private void updateStatus() {
    try {
      Pod current = cluster.client().pods().inNamespace(namespace).withName(name).get();
      if (current == null || !uid.equals(current.getMetadata().getUid())) {
        return;
      }
      var status = current.getStatus() == null ? new io.fabric8.kubernetes.api.model.PodStatus() : current.getStatus();
      List<ContainerStatus> cs = new ArrayList<>();
      boolean allReady;
      boolean started;
      synchronized (this) {
        for (Slot s : slots.values()) {
          cs.add(new ContainerStatusBuilder().withName(s.spec.getName()).withImage(s.spec.getImage())
              .withReady(s.ready()).withStarted(s.run != null && s.run.alive()).withRestartCount(s.restarts).build());
        }
        allReady = !slots.isEmpty() && slots.values().stream().allMatch(Slot::ready);
        started = slots.values().stream().anyMatch(s -> s.run != null);
      }
      status.setPhase(started ? "Running" : "Pending");
      if (podIp != null) {
        status.setPodIP(podIp);
        status.setPodIPs(List.of(new PodIP(podIp)));
      }
      status.setHostIP(node.ip);
      status.setHostIPs(List.of(new io.fabric8.kubernetes.api.model.HostIP(node.ip)));
      status.setContainerStatuses(cs);
      String now = Instant.now().toString();
      List<PodCondition> conditions = new ArrayList<>();
      conditions.add(new PodConditionBuilder().withType("PodScheduled").withStatus("True").withLastTransitionTime(now).build());
      conditions.add(new PodConditionBuilder().withType("Initialized").withStatus("True").withLastTransitionTime(now).build());
      conditions.add(new PodConditionBuilder().withType("ContainersReady").withStatus(allReady ? "True" : "False").withLastTransitionTime(now).build());
      conditions.add(new PodConditionBuilder().withType("Ready").withStatus(allReady ? "True" : "False").withLastTransitionTime(now).build());
      status.setConditions(conditions);
      current.setStatus(status);
      cluster.client().pods().inNamespace(namespace).resource(current).updateStatus();
    } catch (RuntimeException e) {
      event("status update failed: " + e.getMessage());
    }
  }

  // --- termination -----------------------------------------------------------------------------

  /**
   * Terminates the pod as the kubelet does once its object is deleted: every container SIGTERM,
   * SIGKILL after {@code terminationGracePeriodSeconds}; then CNI DEL and the sandbox.
   */
  void stop() {
    stopping = true;
    try {
      stopped.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    Duration grace = grace();
    List<Thread> killers = new ArrayList<>();
    synchronized (this) {
      for (Slot s : slots.values()) {
        if (s.run != null) {
          ContainerRun run = s.run;
          killers.add(Thread.ofVirtual().start(() -> event("container " + run.name + " " + run.terminate(grace))));
        }
      }
    }
    for (Thread t : killers) {
      try {
        t.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    if (!hostNetwork() && netns != null) {
      try {
        cni("DEL");
        event("CNI DEL done");
      } catch (IOException e) {
        event("CNI DEL failed: " + e.getMessage());
      }
      try {
        Sh.run("ip", "netns", "del", netns);
      } catch (IOException e) {
        event("netns delete failed: " + e.getMessage());
      }
    }
    cluster.api().revokeTokensOf(uid);
    terminated = true;
    event("terminated");
  }

  /** Kills what is left without grace (harness teardown). */
  void kill() {
    stopping = true;
    synchronized (this) {
      for (Slot s : slots.values()) {
        if (s.run != null) {
          s.run.terminate(Duration.ZERO);
        }
      }
    }
    if (!hostNetwork() && netns != null) {
      try {
        Sh.run("ip", "netns", "del", netns);
      } catch (IOException e) {
        // gone already
      }
    }
  }

  private void pause(Duration d) {
    try {
      Thread.sleep(d);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      stopping = true;
    }
  }
}
