package dev.ambientj.it.cluster;

import dev.ambientj.config.zds.Netns;
import dev.ambientj.ztunnel.inpod.NetnsExecutor;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.client.NamespacedKubernetesClient;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

/**
 * A simulated cluster: nodes as network namespaces on one underlay bridge, the mock API server,
 * the controllers a control plane runs, a kubelet per node and kube-proxy's Service DNAT. See
 * {@code README.md}, "Deploy to a cluster", for what is real and what is simulated.
 *
 * <pre>
 *   underlay netns (bridge br0, &lt;net&gt;.255.254 = the API server's TLS front)
 *     ├── node-a netns  eth &lt;net&gt;.255.1   cni0 &lt;net&gt;.1.1/24 ── pod netns …
 *     └── node-b netns  eth &lt;net&gt;.255.2   cni0 &lt;net&gt;.2.1/24 ── pod netns …
 *   Services: &lt;net&gt;.200.0/24 (kubernetes = .1), DNAT in every node (PREROUTING, OUTPUT)
 * </pre>
 */
final class Cluster implements AutoCloseable {
  static final String NET = "10.247";
  static final String SERVICE_NET = NET + ".200";
  static final String KUBERNETES_VIP = SERVICE_NET + ".1";
  static final String API_IP = NET + ".255.254";
  /** How often the controllers, kubelets and kube-proxy look at the API (a pass is ~8 requests). */
  private static final Duration CONTROL_LOOP_PERIOD = Duration.ofMillis(400);

  private final String id = Long.toHexString(System.nanoTime() & 0xfffff);
  private final Instant started = Instant.now();
  private final Path work;
  private final List<SimNode> nodes = new ArrayList<>();
  private final List<String> netnses = new ArrayList<>();
  private final Map<String, PodWorker> workers = new ConcurrentHashMap<>();
  private final List<PodWorker> terminated = new CopyOnWriteArrayList<>();
  private final Map<String, String> appliedRules = new HashMap<>();
  private final AtomicInteger podNetnsSeq = new AtomicInteger();
  private final NetnsExecutor netnsExecutor;
  private final ApiServer api;
  private final Images images;
  private final Controllers controllers;
  private final String underlay;
  private volatile List<Service> services = List.of();
  private volatile boolean closed;
  private Thread loop;

  private Cluster(Path work, List<String> nodeNames) throws Exception {
    this.work = work;
    this.netnsExecutor = new NetnsExecutor();
    log("work directory " + work);
    images = Images.prepare(repo(), work.resolve("image"));
    underlay = netns("ajk" + id + "-net");
    Sh.inNetns(underlay, "ip", "link", "add", "br0", "type", "bridge");
    Sh.inNetns(underlay, "ip", "addr", "add", API_IP + "/24", "dev", "br0");
    Sh.inNetns(underlay, "ip", "link", "set", "br0", "up");
    for (int i = 0; i < nodeNames.size(); i++) {
      addNode(nodeNames.get(i), i + 1);
    }
    for (SimNode a : nodes) {
      for (SimNode b : nodes) {
        if (a != b) {
          Sh.inNetns(a.netns, "ip", "route", "add", b.podSubnetPrefix + ".0/24", "via", b.ip);
        }
      }
      Sh.inNetns(underlay, "ip", "route", "add", a.podSubnetPrefix + ".0/24", "via", a.ip);
      kubeProxyInit(a);
    }
    api = ApiServer.start(work.resolve("apiserver"));
    api.serveTls(netnsExecutor, underlay, InetAddress.ofLiteral(API_IP), 6443,
        List.of(KUBERNETES_VIP, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local"));
    for (String ns : List.of("default", "kube-system", "kube-public")) {
      client().namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(ns)
          .withUid(UUID.randomUUID().toString()).endMetadata().build()).create();
    }
    client().services().inNamespace("default").resource(new ServiceBuilder().withNewMetadata()
        .withName("kubernetes").withNamespace("default").withUid(UUID.randomUUID().toString()).endMetadata()
        .withNewSpec().withType("ClusterIP").withClusterIP(KUBERNETES_VIP).addNewPort().withName("https")
        .withPort(443).withProtocol("TCP").withTargetPort(new IntOrString(6443)).endPort().endSpec().build()).create();
    for (SimNode n : nodes) {
      client().nodes().resource(nodeObject(n)).create();
    }
    controllers = new Controllers(this, SERVICE_NET);
    loop = Thread.ofPlatform().name("cluster-control-loop").daemon(true).start(this::controlLoop);
  }

  /** A cluster of {@code nodeNames}; needs root, iproute2, iptables, nsenter, unshare, kubectl, openssl. */
  static Cluster start(String... nodeNames) throws Exception {
    Path work = repo().resolve("integration-tests/target/cluster-harness")
        .resolve(Long.toHexString(System.currentTimeMillis()));
    Files.createDirectories(work);
    return new Cluster(work, List.of(nodeNames));
  }

  static Path repo() {
    return Manifests.directory().getParent();
  }

  private String netns(String name) throws IOException {
    Sh.run("ip", "netns", "add", name);
    netnses.add(name);
    Sh.inNetns(name, "ip", "link", "set", "lo", "up");
    return name;
  }

  private void addNode(String name, int index) throws IOException {
    String ns = netns("ajk" + id + "-" + name);
    SimNode n = new SimNode(name, index, ns, NET, work.resolve("nodes").resolve(name));
    String nodeSide = "ajk" + id + "n" + index;
    String bridgeSide = "ajk" + id + "b" + index;
    Sh.run("ip", "link", "add", nodeSide, "netns", ns, "type", "veth", "peer", "name", bridgeSide,
        "netns", underlay);
    Sh.inNetns(ns, "ip", "addr", "add", n.ip + "/24", "dev", nodeSide);
    Sh.inNetns(ns, "ip", "link", "set", nodeSide, "up");
    Sh.inNetns(underlay, "ip", "link", "set", bridgeSide, "master", "br0");
    Sh.inNetns(underlay, "ip", "link", "set", bridgeSide, "up");
    Sh.inNetns(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1");
    Sh.inNetns(ns, "ip", "route", "add", SERVICE_NET + ".0/24", "via", API_IP);
    nodes.add(n);
  }

  private Node nodeObject(SimNode n) {
    long memory = Runtime.getRuntime().maxMemory();
    try {
      for (String l : Files.readAllLines(Path.of("/proc/meminfo"))) {
        if (l.startsWith("MemTotal:")) {
          memory = Long.parseLong(l.replaceAll("\\D", "")) * 1024;
        }
      }
    } catch (IOException e) {
      // keep the JVM's figure
    }
    Map<String, Quantity> capacity = Map.of("cpu", new Quantity(Integer.toString(Runtime.getRuntime().availableProcessors())),
        "memory", new Quantity(Long.toString(memory)), "pods", new Quantity("110"));
    return new NodeBuilder().withNewMetadata().withName(n.name).withUid(UUID.randomUUID().toString())
        .withLabels(nodeLabels(n)).endMetadata()
        .withNewSpec().withPodCIDR(n.podSubnetPrefix + ".0/24").endSpec()
        .withNewStatus().addNewAddress().withType("InternalIP").withAddress(n.ip).endAddress()
        .addNewAddress().withType("Hostname").withAddress(n.name).endAddress()
        .withCapacity(capacity).withAllocatable(capacity)
        .addNewCondition().withType("Ready").withStatus("True").endCondition().endStatus().build();
  }

  Map<String, String> nodeLabels(SimNode n) {
    return Map.of("kubernetes.io/os", "linux", "kubernetes.io/arch", "amd64", "kubernetes.io/hostname", n.name);
  }

  Quantity allocatable(String resource) {
    return nodeObject(nodes.get(0)).getStatus().getAllocatable().getOrDefault(resource, new Quantity("0"));
  }

  // --- what pods and controllers use ---------------------------------------------------------

  NamespacedKubernetesClient client() {
    return api.client();
  }

  ApiServer api() {
    return api;
  }

  Images images() {
    return images;
  }

  List<SimNode> nodes() {
    return nodes;
  }

  SimNode node(String name) {
    return nodes.stream().filter(n -> n.name.equals(name)).findFirst()
        .orElseThrow(() -> new IllegalArgumentException("no node " + name));
  }

  Path workDir() {
    return work;
  }

  Instant started() {
    return started;
  }

  List<Service> services() {
    return services;
  }

  String kubernetesServiceVip() {
    return KUBERNETES_VIP;
  }

  String podNetnsName() {
    return "ajk" + id + "-p" + podNetnsSeq.incrementAndGet();
  }

  void log(String what) {
    System.out.printf(Locale.ROOT, "[harness %6.2fs] %s%n",
        Duration.between(started, Instant.now()).toMillis() / 1000.0, what);
  }

  /** A TCP connection from {@code node}'s network namespace (the kubelet's probes). */
  Socket dialFrom(SimNode node, InetSocketAddress to, int timeoutMillis) throws IOException {
    int fd = Netns.open(Path.of("/run/netns/" + node.netns));
    try {
      SocketChannel ch = netnsExecutor.call(fd, SocketChannel::open);
      Socket s = ch.socket();
      try {
        s.connect(to, timeoutMillis);
      } catch (IOException e) {
        s.close();
        throw e;
      }
      return s;
    } catch (IOException e) {
      throw e;
    } catch (Exception e) {
      throw new IOException(e);
    } finally {
      Netns.close(fd);
    }
  }

  // --- the control loop ----------------------------------------------------------------------

  private void controlLoop() {
    while (!closed) {
      try {
        controllers.reconcile();
        services = client().services().inAnyNamespace().list().getItems();
        List<Pod> pods = client().pods().inAnyNamespace().list().getItems();
        kubelets(pods);
        kubeProxy(pods);
      } catch (RuntimeException | IOException e) {
        if (!closed) {
          log("control loop: " + e);
        }
      }
      try {
        Thread.sleep(CONTROL_LOOP_PERIOD);
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  /** Each node's kubelet: start the pods bound to it, terminate the ones deleted from the API. */
  private void kubelets(List<Pod> pods) {
    Map<String, Pod> byUid = new HashMap<>();
    for (Pod p : pods) {
      if (p.getSpec().getNodeName() != null && p.getMetadata().getUid() != null) {
        byUid.put(p.getMetadata().getUid(), p);
      }
    }
    for (Pod p : byUid.values()) {
      if (!workers.containsKey(p.getMetadata().getUid())) {
        SimNode node = nodes.stream().filter(n -> n.name.equals(p.getSpec().getNodeName())).findFirst().orElse(null);
        if (node != null) {
          PodWorker w = new PodWorker(this, node, p);
          workers.put(w.uid, w);
          w.event("scheduled; kubelet starts it");
          w.start();
        }
      }
    }
    for (PodWorker w : workers.values()) {
      if (!byUid.containsKey(w.uid)) {
        workers.remove(w.uid);
        terminated.add(w);
        w.event("deleted from the API; terminating (grace " + graceOf(w.pod) + " s)");
        Thread.ofPlatform().daemon(true).name("kubelet-stop-" + w.name).start(w::stop);
      }
    }
  }

  private static long graceOf(Pod p) {
    Long g = p.getSpec().getTerminationGracePeriodSeconds();
    return g == null ? 30 : g;
  }

  private void kubeProxyInit(SimNode n) throws IOException {
    Sh.inNetns(n.netns, "iptables", "-t", "nat", "-N", "AJK-SERVICES");
    Sh.inNetns(n.netns, "iptables", "-t", "nat", "-A", "PREROUTING", "-j", "AJK-SERVICES");
    Sh.inNetns(n.netns, "iptables", "-t", "nat", "-A", "OUTPUT", "-j", "AJK-SERVICES");
    // Service traffic is masqueraded, so that a reply from a pod on the same bridge comes back
    // through the node's conntrack (kube-proxy relies on br_netfilter for that; not assumed here).
    Sh.inNetns(n.netns, "iptables", "-t", "nat", "-A", "POSTROUTING", "-m", "conntrack", "--ctstate", "DNAT",
        "-j", "MASQUERADE");
    // A Service without a ready endpoint refuses at once (kube-proxy's REJECT), not a silent drop.
    Sh.inNetns(n.netns, "iptables", "-t", "filter", "-N", "AJK-SERVICES");
    Sh.inNetns(n.netns, "iptables", "-t", "filter", "-A", "FORWARD", "-j", "AJK-SERVICES");
    Sh.inNetns(n.netns, "iptables", "-t", "filter", "-A", "OUTPUT", "-j", "AJK-SERVICES");
  }

  /**
   * kube-proxy: each Service port's cluster IP DNATed to one ready endpoint (the first, by pod
   * name; the {@code kubernetes} Service to the API server), in every node's nat table.
   */
  private void kubeProxy(List<Pod> pods) throws IOException {
    StringBuilder rules = new StringBuilder("*nat\n:AJK-SERVICES - [0:0]\n");
    StringBuilder rejects = new StringBuilder("*filter\n:AJK-SERVICES - [0:0]\n");
    for (Service s : services) {
      String vip = s.getSpec().getClusterIP();
      if (vip == null || vip.isEmpty() || vip.equals("None") || s.getSpec().getPorts() == null) {
        continue;
      }
      for (ServicePort port : s.getSpec().getPorts()) {
        String to = endpoint(s, port, pods);
        if (to != null) {
          rules.append("-A AJK-SERVICES -d ").append(vip).append("/32 -p tcp -m tcp --dport ")
              .append(port.getPort()).append(" -j DNAT --to-destination ").append(to).append('\n');
        } else {
          rejects.append("-A AJK-SERVICES -d ").append(vip).append("/32 -p tcp -m tcp --dport ")
              .append(port.getPort()).append(" -j REJECT --reject-with icmp-port-unreachable\n");
        }
      }
    }
    rules.append("COMMIT\n").append(rejects).append("COMMIT\n");
    String text = rules.toString();
    for (SimNode n : nodes) {
      if (!text.equals(appliedRules.get(n.name))) {
        Sh.Result r = Sh.exec(List.of("nsenter", "--net=/run/netns/" + n.netns, "iptables-restore", "--noflush"),
            Map.of(), text);
        if (!r.ok()) {
          throw new IOException("kube-proxy on " + n.name + ": " + r.err());
        }
        appliedRules.put(n.name, text);
      }
    }
  }

  private String endpoint(Service s, ServicePort port, List<Pod> pods) {
    if (s.getMetadata().getName().equals("kubernetes") && s.getMetadata().getNamespace().equals("default")) {
      return API_IP + ":6443";
    }
    Map<String, String> selector = s.getSpec().getSelector();
    if (selector == null || selector.isEmpty()) {
      return null;
    }
    Predicate<Pod> selected = p -> p.getMetadata().getNamespace().equals(s.getMetadata().getNamespace())
        && p.getMetadata().getLabels() != null
        && selector.entrySet().stream().allMatch(e -> e.getValue().equals(p.getMetadata().getLabels().get(e.getKey())));
    return pods.stream().filter(selected).filter(Controllers::ready)
        .filter(p -> p.getStatus().getPodIP() != null)
        .sorted(java.util.Comparator.comparing(p -> p.getMetadata().getName()))
        .map(p -> p.getStatus().getPodIP() + ":" + targetPort(port, p))
        .findFirst().orElse(null);
  }

  private static int targetPort(ServicePort port, Pod p) {
    IntOrString t = port.getTargetPort();
    if (t == null) {
      return port.getPort();
    }
    if (t.getIntVal() != null) {
      return t.getIntVal();
    }
    for (var c : p.getSpec().getContainers()) {
      for (ContainerPort cp : c.getPorts()) {
        if (t.getStrVal().equals(cp.getName())) {
          return cp.getContainerPort();
        }
      }
    }
    return port.getPort();
  }

  // --- the user's side: apply, delete, wait, look -------------------------------------------

  /** {@code kubectl apply}: creates each object, or replaces it (a uid assigned on create). */
  void apply(List<HasMetadata> objects) {
    for (HasMetadata o : objects) {
      if (o.getMetadata().getUid() == null) {
        o.getMetadata().setUid(UUID.randomUUID().toString());
      }
      HasMetadata existing = client().resource(o).get();
      if (existing != null) {
        o.getMetadata().setUid(existing.getMetadata().getUid());
        o.getMetadata().setResourceVersion(null);
        client().resource(o).update();
      } else {
        client().resource(o).create();
      }
    }
  }

  void apply(String yaml) {
    apply(Manifests.parse(yaml));
  }

  /** {@code kubectl delete}: each object, in reverse order (garbage collection does the rest). */
  void delete(List<HasMetadata> objects) {
    List<HasMetadata> reversed = new ArrayList<>(objects);
    java.util.Collections.reverse(reversed);
    for (HasMetadata o : reversed) {
      client().resource(o).delete();
    }
  }

  /**
   * {@code kubectl rollout restart daemonset/NAME}: a new template annotation, so the DaemonSet
   * controller replaces every pod by its update strategy (with {@code maxSurge}: the new pod first,
   * the old one deleted once the new one is ready; the kubelet then terminates it).
   */
  void rolloutRestart(String namespace, String daemonSet) {
    var ds = client().apps().daemonSets().inNamespace(namespace).withName(daemonSet).get();
    var meta = ds.getSpec().getTemplate().getMetadata();
    Map<String, String> annotations = new HashMap<>(meta.getAnnotations() == null ? Map.of() : meta.getAnnotations());
    annotations.put("kubectl.kubernetes.io/restartedAt", Instant.now().toString());
    meta.setAnnotations(annotations);
    client().apps().daemonSets().inNamespace(namespace).resource(ds).update();
  }

  /** {@code kubectl delete pod}: the kubelet terminates it (SIGTERM, grace, SIGKILL). */
  void deletePod(String namespace, String name) {
    client().pods().inNamespace(namespace).withName(name).delete();
  }

  /** The running pods matching {@code namespace} and label {@code key=value}. */
  List<PodWorker> pods(String namespace, String key, String value) {
    return workers.values().stream().filter(w -> w.namespace.equals(namespace))
        .filter(w -> w.pod.getMetadata().getLabels() != null && value.equals(w.pod.getMetadata().getLabels().get(key)))
        .toList();
  }

  PodWorker pod(String namespace, String name) {
    return workers.values().stream().filter(w -> w.namespace.equals(namespace) && w.name.equals(name))
        .findFirst().orElse(null);
  }

  List<PodWorker> allPods() {
    return List.copyOf(workers.values());
  }

  /** Pods that were terminated (deleted from the API), in the order the kubelet noticed. */
  List<PodWorker> terminatedPods() {
    return List.copyOf(terminated);
  }

  /**
   * Waits until {@code condition} holds for the pods, at most {@code budget}; on timeout fails
   * with every pod's events and logs.
   */
  void await(String what, Duration budget, java.util.function.BooleanSupplier condition) {
    long deadline = System.nanoTime() + budget.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("not within " + budget.toSeconds() + " s: " + what + "\n" + describe());
      }
      try {
        Thread.sleep(100);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted while waiting for " + what);
      }
    }
  }

  /** Every pod's events, probe results, restarts and the tail of each container's log. */
  String describe() {
    StringBuilder b = new StringBuilder();
    for (PodWorker w : workers.values()) {
      b.append(w.describe()).append("\n\n");
    }
    for (PodWorker w : terminated) {
      b.append("(terminated) ").append(w.describe()).append("\n\n");
    }
    return b.toString();
  }

  /**
   * {@code kubectl exec}: runs {@code cmd} in {@code pod}'s container (its mount and network
   * namespaces, its root, its environment).
   */
  Sh.Result exec(PodWorker pod, String container, String... cmd) throws IOException {
    long pid = pod.pid(container);
    if (pid < 0) {
      throw new IOException("container " + container + " of " + pod.key() + " is not running");
    }
    List<String> all = new ArrayList<>(List.of("nsenter", "--target", Long.toString(pid), "--mount", "--net",
        "--root", "--wd"));
    all.addAll(List.of(cmd));
    ProcessBuilder pb = new ProcessBuilder(all);
    return Sh.exec(all, pod.containerEnv(container), null);
  }

  @Override
  public void close() {
    closed = true;
    if (loop != null) {
      loop.interrupt();
      try {
        loop.join(5000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    for (PodWorker w : workers.values()) {
      w.kill();
    }
    for (PodWorker w : terminated) {
      w.kill();
    }
    if (api != null) {
      api.close();
    }
    java.util.Collections.reverse(netnses);
    for (String ns : netnses) {
      try {
        Sh.run("ip", "netns", "del", ns);
      } catch (IOException e) {
        System.err.println("cleanup: " + e.getMessage());
      }
    }
    netnsExecutor.close();
  }
}
