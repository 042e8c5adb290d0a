package dev.ambientj.perf.config;

import dev.ambientj.config.xds.TypeUrls;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.envoyproxy.envoy.service.discovery.v3.Resource;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The config plane at the scale it exists for: one config server ({@code mesh config-server
 * --kubernetes}, a child JVM) watching a generated cluster on Fabric8's mock API server (CRUD
 * mode), and N delta-ADS clients, each scoped as the ztunnel of its own node ({@link
 * ZtunnelStream}), in this JVM. Every change is made through the Kubernetes API, as a user or a
 * controller makes it, and timed until every client it concerns has ACKed it:
 *
 * <ol>
 *   <li><b>policy change</b>: the mesh-wide AuthorizationPolicy (every node's ztunnel) and one
 *       selector policy (the nodes of its pods' only; the others must get nothing), alternately;
 *   <li><b>churn</b>: pods created and deleted at a fixed rate (every client gets every Address);
 *       push latency, NACKs, the server's CPU and RSS, bytes per change;
 *   <li><b>restart</b>: the server process stopped and started again on the same port; the time
 *       until every client has reconnected and holds a complete set again;
 *   <li><b>end to end</b>: a DENY policy written → two real ztunnels ({@link EndToEndProbe}) deny
 *       a new connection.
 * </ol>
 *
 * <p>Two figures per change: from the API write (what a user sees: the Kubernetes source's 50 ms
 * quiet window, the rebuild — list, translate — and the push) and from the snapshot's publish,
 * read from the server's log (the xDS push alone: encode, scope, send, the client's decode and
 * ACK). The clock is the machine's wall clock for the latter (both processes), monotonic for the
 * former.
 *
 * <p>Run (after {@code ./mvnw -pl perf -am package -DskipTests}): {@code perf/xds-scale/run.sh},
 * or {@code java -Xmx3g -cp perf/target/benchmarks.jar dev.ambientj.perf.config.XdsScaleBench
 * [--nodes 200] [--services 1000] [--pods 5000] [--policies 500] [--rounds 20]
 * [--churn-seconds 60] [--churn-rate 100] [--e2e-rounds 10] [--jfr 0|1]}. Results: {@code
 * docs/xds-scale.md}.
 */
public final class XdsScaleBench {
  private final Map<String, Integer> options;
  private final ScaleCluster cluster;
  private final List<Change> active = new CopyOnWriteArrayList<>();
  private final AtomicLong unexpected = new AtomicLong();
  private final Map<String, Object> results = new LinkedHashMap<>();
  private KubernetesClient kube;
  private ConfigServerProcess server;
  private final List<ZtunnelStream> clients = new ArrayList<>();

  private XdsScaleBench(Map<String, Integer> options) {
    this.options = options;
    this.cluster = new ScaleCluster(options.get("nodes"), options.get("services"),
        options.get("pods"), options.get("policies"));
  }

  /** Held so that the level set on it stays: the mock server logs every request at INFO. */
  private static final java.util.logging.Logger MOCK_LOG =
      java.util.logging.Logger.getLogger("io.fabric8.mockwebserver");

  public static void main(String[] args) throws Exception {
    MOCK_LOG.setLevel(java.util.logging.Level.WARNING);
    Map<String, Integer> o = new LinkedHashMap<>();
    o.put("nodes", 200);
    o.put("services", 1000);
    o.put("pods", 5000);
    o.put("policies", 500);
    o.put("rounds", 20);
    o.put("churn-seconds", 60);
    o.put("churn-rate", 100);
    o.put("e2e-rounds", 10);
    o.put("jfr", 0);
    for (int i = 0; i + 1 < args.length; i += 2) {
      String key = args[i].replaceFirst("^--", "");
      if (!o.containsKey(key)) {
        throw new IllegalArgumentException("unknown option " + args[i] + " (expected " + o.keySet()
            + ")");
      }
      o.put(key, Integer.parseInt(args[i + 1]));
    }
    try {
      new XdsScaleBench(o).run();
    } catch (Exception e) {
      e.printStackTrace();
      System.exit(1); // the child processes are stopped by their shutdown hooks
    }
    System.exit(0);
  }

  /** One change and the clients that must ACK it. */
  private static final class Change {
    final String what;
    final String type;
    final String name;
    final boolean removal;
    final Set<Integer> expected;
    final long writeNanos;
    final long writeMillis;
    /** client → {ack nanos, ack ms, snapshot version}. */
    final Map<Integer, long[]> acks = new ConcurrentHashMap<>();
    final CountDownLatch done = new CountDownLatch(1);

    Change(String what, String type, String name, boolean removal, Set<Integer> expected,
        long writeNanos, long writeMillis) {
      this.what = what;
      this.type = type;
      this.name = name;
      this.removal = removal;
      this.expected = expected;
      this.writeNanos = writeNanos;
      this.writeMillis = writeMillis;
    }

    boolean in(DeltaDiscoveryResponse r) {
      if (!r.getTypeUrl().equals(type)) {
        return false;
      }
      if (removal) {
        return r.getRemovedResourcesList().contains(name);
      }
      for (Resource res : r.getResourcesList()) {
        if (res.getName().equals(name)) {
          return true;
        }
      }
      return false;
    }

    double fromWriteMs() {
      return acks.values().stream().mapToLong(a -> a[0]).max().orElse(writeNanos)
          / 1e6 - writeNanos / 1e6;
    }
  }

  private void acked(ZtunnelStream s, DeltaDiscoveryResponse r, long nanos, long millis) {
    for (Change c : active) {
      if (!c.in(r)) {
        continue;
      }
      if (!c.expected.contains(s.index)) {
        unexpected.incrementAndGet();
        continue;
      }
      long version = parseLong(r.getSystemVersionInfo());
      if (c.acks.putIfAbsent(s.index, new long[] {nanos, millis, version}) == null
          && c.acks.size() == c.expected.size()) {
        active.remove(c);
        c.done.countDown();
      }
    }
  }

  private void run() throws Exception {
    results.put("date", ZonedDateTime.now().toString());
    results.put("cpus", Runtime.getRuntime().availableProcessors());
    results.put("loadavg_start", loadAverage());
    results.put("options", options);
    say("xDS scale bench %s; %d cpus; load average %s", options,
        Runtime.getRuntime().availableProcessors(), loadAverage());

    KubernetesMockServer mock = new KubernetesMockServer(new Context(), new MockWebServer(),
        new HashMap<>(), new KubernetesCrudDispatcher(), false);
    mock.init(InetAddress.getByName("127.0.0.1"), 0);
    kube = mock.createClient();
    long t0 = System.nanoTime();
    int objects = cluster.create(kube);
    if (options.get("e2e-rounds") > 0) {
      EndToEndProbe.createObjects(kube);
    }
    say("cluster: %d objects written to the mock API server in %.1f s", objects, sec(t0));
    results.put("cluster_objects", objects);

    int port = freePort();
    Path state = Files.createTempDirectory("xds-scale-state");
    String url = kube.getMasterUrl().toString();
    t0 = System.nanoTime();
    List<String> flags = List.of();
    if (options.get("jfr") != 0) {
      Path jfr = Path.of(Files.isDirectory(Path.of("perf/results")) ? "perf/results" : ".",
          "xds-scale-server.jfr").toAbsolutePath();
      flags = List.of("-XX:StartFlightRecording=filename=" + jfr + ",settings=profile");
      say("config server flight recording: %s (first server process)", jfr);
    }
    server = new ConfigServerProcess(url, port, state, flags);
    server.awaitListening(600);
    say("config server: listening after %.1f s (listed the cluster, translated, CA root)", sec(t0));
    results.put("server_start_s", sec(t0));

    // The real ztunnels of the end-to-end figure start while the server is idle: a ztunnel gives
    // up when its first complete set takes more than 30 s (found at this scale on a loaded
    // machine), and in a cluster they would be running before the churn anyway.
    EndToEndProbe probe = null;
    if (options.get("e2e-rounds") > 0) {
      t0 = System.nanoTime();
      probe = new EndToEndProbe(kube, port, state);
      say("end to end: two ztunnels running %.1f s after their start", sec(t0));
    }

    ScheduledExecutorService timer = Executors.newScheduledThreadPool(2,
        Thread.ofPlatform().daemon().name("xds-client-timer").factory());
    InetSocketAddress address = new InetSocketAddress("127.0.0.1", port);
    t0 = System.nanoTime();
    for (int i = 0; i < cluster.nodes; i++) {
      ZtunnelStream s = new ZtunnelStream(address, i, ScaleCluster.node(i), timer, this::acked);
      clients.add(s);
      s.connect();
    }
    awaitSynced(0, 900);
    double initial = sec(t0);
    long initialBytes = clients.stream().mapToLong(ZtunnelStream::bytes).sum();
    say("initial sync: %d clients hold a complete set after %.1f s; %.1f MiB sent in all"
            + " (%d addresses each; authorizations per client %d..%d)",
        clients.size(), initial, initialBytes / 1048576.0, clients.get(0).held(TypeUrls.ADDRESS),
        clients.stream().mapToInt(c -> c.held(TypeUrls.AUTHORIZATION)).min().orElse(0),
        clients.stream().mapToInt(c -> c.held(TypeUrls.AUTHORIZATION)).max().orElse(0));
    results.put("initial_sync_s", initial);
    results.put("initial_bytes", initialBytes);

    policyChanges();
    churn();
    restart(url, port, state);
    if (probe != null) {
      endToEnd(probe);
      probe.close();
    }

    results.put("loadavg_end", loadAverage());
    results.put("client_nacks", clients.stream().mapToLong(ZtunnelStream::nacks).sum());
    results.put("server_nack_log_lines", server.nackLines());
    results.put("unexpected_deliveries", unexpected.get());
    say("load average at the end: %s", loadAverage());
    System.out.println("RESULTS " + new com.fasterxml.jackson.databind.ObjectMapper()
        .writeValueAsString(results));
    for (ZtunnelStream s : clients) {
      s.close();
    }
    server.close();
    kube.close();
    mock.destroy();
  }

  // ---- (1) one policy change → every affected client has ACKed it ----

  private void policyChanges() throws Exception {
    int rounds = options.get("rounds");
    Set<Integer> all = new HashSet<>();
    for (int i = 0; i < clients.size(); i++) {
      all.add(i);
    }
    List<Change> global = new ArrayList<>();
    List<Change> selector = new ArrayList<>();
    var aps = kube.genericKubernetesResources(ScaleCluster.AUTHORIZATION_POLICIES);
    for (int round = 1; round <= rounds; round++) {
      int r = round;
      Change g = change("global policy", TypeUrls.AUTHORIZATION,
          "istio-system/" + ScaleCluster.GLOBAL_POLICY, false, all,
          () -> aps.inNamespace("istio-system").resource(ScaleCluster.globalPolicy(r)).update());
      await(g, 60);
      global.add(g);
      Thread.sleep(300);
      int k = (round * 37) % (cluster.policies - 1);
      Set<Integer> affected = new HashSet<>();
      for (String node : cluster.nodesOfPolicy(k)) {
        affected.add(Integer.parseInt(node.substring("node-".length())));
      }
      int s = (2 * k) % cluster.services;
      Change c = change("selector policy", TypeUrls.AUTHORIZATION,
          ScaleCluster.namespaceOf(s) + "/ap-" + k, false, affected,
          () -> aps.inNamespace(ScaleCluster.namespaceOf(s)).resource(
              cluster.selectorPolicy(k, r)).update());
      await(c, 60);
      selector.add(c);
      say("round %2d: global → all %d ACKed %.0f ms after the write (%.0f ms after the publish);"
              + " selector → its %d ACKed %.0f ms (%.0f ms)", round, g.expected.size(),
          g.fromWriteMs(), fromPublishMs(g), c.expected.size(), c.fromWriteMs(),
          fromPublishMs(c));
      Thread.sleep(300);
    }
    report("policy_global", global);
    report("policy_selector", selector);
  }

  // ---- (2) churn ----

  private void churn() throws Exception {
    int seconds = options.get("churn-seconds");
    int rate = options.get("churn-rate");
    Set<Integer> all = new HashSet<>();
    for (int i = 0; i < clients.size(); i++) {
      all.add(i);
    }
    long bytes0 = clients.stream().mapToLong(ZtunnelStream::bytes).sum();
    long nacks0 = clients.stream().mapToLong(ZtunnelStream::nacks).sum();
    double cpu0 = server.jvm.cpuSeconds();
    List<Change> changes = new CopyOnWriteArrayList<>();
    Deque<Pod> alive = new java.util.concurrent.ConcurrentLinkedDeque<>();
    List<Double> rss = new CopyOnWriteArrayList<>();
    AtomicLong created = new AtomicLong();
    AtomicLong failed = new AtomicLong();
    // Writes are issued at their due times by a few threads, as several controllers would: one
    // slow write does not hold back the next.
    ScheduledExecutorService writers = Executors.newScheduledThreadPool(16,
        Thread.ofPlatform().daemon().name("churn-writer").factory());
    long periodNanos = TimeUnit.SECONDS.toNanos(1) / rate;
    int total = seconds * rate;
    long start = System.nanoTime();
    for (int i = 0; i < seconds; i++) {
      writers.schedule(() -> {
        try {
          rss.add(server.jvm.rssMib());
        } catch (IOException e) {
          // the process is gone; the run fails elsewhere
        }
      }, i, TimeUnit.SECONDS);
    }
    for (int i = 0; i < total; i++) {
      boolean create = i % 2 == 0 || alive.size() < 25;
      writers.schedule(() -> {
        try {
          if (create || alive.isEmpty()) {
            int c = (int) created.getAndIncrement();
            String ns = ScaleCluster.namespaceOf(c);
            long wn = System.nanoTime();
            long wm = System.currentTimeMillis();
            Pod p = kube.pods().inNamespace(ns).resource(ScaleCluster.pod("churn-" + c, ns,
                "churn", c % cluster.nodes, ScaleCluster.ip(10, 200, c))).create();
            changes.add(track("pod created", TypeUrls.ADDRESS, uidOf(p), false, all, wn, wm));
            alive.add(p);
          } else {
            Pod p = alive.pollFirst();
            if (p == null) {
              return;
            }
            long wn = System.nanoTime();
            long wm = System.currentTimeMillis();
            changes.add(track("pod deleted", TypeUrls.ADDRESS, uidOf(p), true, all, wn, wm));
            kube.pods().inNamespace(p.getMetadata().getNamespace())
                .withName(p.getMetadata().getName()).delete();
          }
        } catch (RuntimeException e) {
          failed.incrementAndGet();
        }
      }, i * periodNanos, TimeUnit.NANOSECONDS);
    }
    writers.shutdown();
    writers.awaitTermination(seconds + 120L, TimeUnit.SECONDS);
    double writeSeconds = sec(start);
    for (Change c : changes) {
      c.done.await(30, TimeUnit.SECONDS);
    }
    double cpu = server.jvm.cpuSeconds() - cpu0;
    long bytes = clients.stream().mapToLong(ZtunnelStream::bytes).sum() - bytes0;
    long nacks = clients.stream().mapToLong(ZtunnelStream::nacks).sum() - nacks0;
    rss.add(server.jvm.rssMib());
    if (failed.get() > 0) {
      say("churn: %d writes failed", failed.get());
    }
    say("churn: %d pod changes in %.1f s (%.1f/s); server CPU %.1f s (%.2f cores over the writes);"
            + " RSS max %.0f MiB; %d bytes to all clients per change (%.0f per client); %d NACKs",
        changes.size(), writeSeconds, changes.size() / writeSeconds, cpu, cpu / writeSeconds,
        rss.stream().mapToDouble(d -> d).max().orElse(0), bytes / changes.size(),
        bytes / (double) changes.size() / clients.size(), nacks);
    results.put("churn_changes", changes.size());
    results.put("churn_rate_achieved", changes.size() / writeSeconds);
    results.put("churn_server_cpu_cores", cpu / writeSeconds);
    results.put("churn_server_rss_max_mib", rss.stream().mapToDouble(d -> d).max().orElse(0));
    results.put("churn_bytes_per_change_all_clients", bytes / changes.size());
    results.put("churn_nacks", nacks);
    report("churn", changes);
  }

  private static String uidOf(Pod p) {
    String uid = p.getMetadata().getUid();
    return uid == null || uid.isEmpty()
        ? "Kubernetes//Pod/" + p.getMetadata().getNamespace() + "/" + p.getMetadata().getName()
        : uid;
  }

  // ---- (3) restart ----

  private void restart(String url, int port, Path state) throws Exception {
    long bytes0 = clients.stream().mapToLong(ZtunnelStream::bytes).sum();
    long t0 = System.nanoTime();
    server.close();
    double stopped = sec(t0);
    long t1 = System.nanoTime();
    server = new ConfigServerProcess(url, port, state, List.of());
    server.awaitListening(600);
    double listening = sec(t1);
    awaitSynced(t1, 900);
    double synced = sec(t1);
    long lastSync = clients.stream().mapToLong(ZtunnelStream::syncedNanos).max().orElse(t1);
    long bytes = clients.stream().mapToLong(ZtunnelStream::bytes).sum() - bytes0;
    long streams = clients.stream().mapToLong(ZtunnelStream::streamsOpened).sum();
    say("restart: stopped in %.1f s; the new server listened %.1f s after its start; all %d"
            + " clients resynced %.2f s after its start (%.2f s after it listened); %.1f KiB sent"
            + " for the resync; %d streams opened in all so far",
        stopped, listening, clients.size(), (lastSync - t1) / 1e9,
        (lastSync - t1) / 1e9 - listening, bytes / 1024.0, streams);
    results.put("restart_listen_s", listening);
    results.put("restart_all_resynced_after_start_s", (lastSync - t1) / 1e9);
    results.put("restart_all_resynced_after_listen_s", (lastSync - t1) / 1e9 - listening);
    results.put("restart_resync_bytes", bytes);
    results.put("restart_observed_s", synced);
  }

  // ---- (4) object change → a ztunnel enforcing it ----

  private void endToEnd(EndToEndProbe probe) throws Exception {
    double first = probe.awaitAllowed(600);
    say("end to end: the ztunnels let a connection through %.1f s after the first try",
        first / 1000);
    int rounds = options.get("e2e-rounds");
    double[] denied = new double[rounds];
    double[] allowed = new double[rounds];
    for (int i = 0; i < rounds; i++) {
      double[] r = probe.denyThenAllow();
      denied[i] = r[0];
      allowed[i] = r[1];
      say("end to end round %d: DENY policy written → first connection denied after %.0f ms;"
          + " deleted → let through again after %.0f ms", i + 1, r[0], r[1]);
      Thread.sleep(300);
    }
    java.util.Arrays.sort(denied);
    java.util.Arrays.sort(allowed);
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("rounds", rounds);
    r.put("ztunnels_first_connection_s", first / 1000);
    r.put("write_to_denied_ms", percentiles(denied));
    r.put("delete_to_allowed_ms", percentiles(allowed));
    double rss = 0;
    for (ChildJvm z : probe.ztunnels()) {
      rss = Math.max(rss, z.rssMib());
    }
    r.put("ztunnel_rss_max_mib", rss);
    results.put("end_to_end", r);
    say("end to end: write → denied %s; delete → allowed %s; ztunnel RSS max %.0f MiB",
        percentiles(denied), percentiles(allowed), rss);
  }

  // ---- measuring ----

  private interface Write {
    void run() throws Exception;
  }

  private Change change(String what, String type, String name, boolean removal,
      Set<Integer> expected, Write write) throws Exception {
    long wn = System.nanoTime();
    long wm = System.currentTimeMillis();
    Change c = track(what, type, name, removal, expected, wn, wm);
    write.run();
    return c;
  }

  private Change track(String what, String type, String name, boolean removal,
      Set<Integer> expected, long writeNanos, long writeMillis) {
    Change c = new Change(what, type, name, removal, expected, writeNanos, writeMillis);
    active.add(c);
    return c;
  }

  private static void await(Change c, int seconds) throws InterruptedException {
    if (!c.done.await(seconds, TimeUnit.SECONDS)) {
      throw new IllegalStateException(c.what + " " + c.name + ": " + c.acks.size() + " of "
          + c.expected.size() + " clients ACKed within " + seconds + " s");
    }
  }

  /** From the publish of the snapshot the last ACK was for, to that ACK; NaN if not logged. */
  private double fromPublishMs(Change c) {
    long[] last = c.acks.values().stream().max((a, b) -> Long.compare(a[0], b[0])).orElse(null);
    if (last == null) {
      return Double.NaN;
    }
    long published = server.publishedMillis(last[2]);
    return published < 0 ? Double.NaN : last[1] - published;
  }

  private void report(String key, List<Change> changes) {
    double[] write = changes.stream().filter(c -> c.done.getCount() == 0)
        .mapToDouble(Change::fromWriteMs).sorted().toArray();
    double[] publish = changes.stream().filter(c -> c.done.getCount() == 0)
        .mapToDouble(this::fromPublishMs).filter(d -> !Double.isNaN(d)).sorted().toArray();
    long incomplete = changes.stream().filter(c -> c.done.getCount() != 0).count();
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("changes", changes.size());
    r.put("incomplete", incomplete);
    r.put("from_write_ms", percentiles(write));
    r.put("from_publish_ms", percentiles(publish));
    results.put(key, r);
    say("%s: %d changes (%d not ACKed by all); write → all ACKed %s; publish → all ACKed %s", key,
        changes.size(), incomplete, percentiles(write), percentiles(publish));
  }

  private static Map<String, Double> percentiles(double[] sorted) {
    Map<String, Double> m = new LinkedHashMap<>();
    if (sorted.length == 0) {
      return m;
    }
    m.put("p50", round(at(sorted, 0.50)));
    m.put("p99", round(at(sorted, 0.99)));
    m.put("max", round(sorted[sorted.length - 1]));
    return m;
  }

  private static double at(double[] sorted, double q) {
    return sorted[Math.max(0, (int) Math.ceil(q * sorted.length) - 1)];
  }

  private static double round(double d) {
    return Math.round(d * 10) / 10.0;
  }

  private void awaitSynced(long after, int seconds) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (System.nanoTime() < deadline) {
      long behind = clients.stream().filter(c -> c.syncedNanos() == 0 || c.syncedNanos() < after)
          .count();
      if (behind == 0) {
        return;
      }
      Thread.sleep(20);
    }
    throw new IllegalStateException("clients not synced within " + seconds + " s; server log:\n"
        + String.join("\n", server.jvm.tail()));
  }

  private static long parseLong(String s) {
    try {
      return Long.parseLong(s);
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      return s.getLocalPort();
    }
  }

  private static String loadAverage() {
    try {
      String[] f = Files.readString(Path.of("/proc/loadavg")).split(" ");
      return f[0] + " " + f[1] + " " + f[2];
    } catch (IOException e) {
      return "?";
    }
  }

  private static double sec(long fromNanos) {
    return (System.nanoTime() - fromNanos) / 1e9;
  }

  private static void say(String format, Object... args) {
    System.out.printf(Locale.ROOT, format + "%n", args);
  }
}
