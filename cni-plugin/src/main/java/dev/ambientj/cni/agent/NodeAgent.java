package dev.ambientj.cni.agent;

import dev.ambientj.cni.redirect.InpodRedirect;
import dev.ambientj.cni.redirect.RedirectException;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Workload;
import java.io.IOException;
import java.net.InetAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node agent's side of {@link AgentProtocol}: decides from the current {@link MeshSnapshot}
 * whether a pod is enrolled (ISTIO-FACTS §11, as computed into {@link Workload#enrolled()}) and
 * installs or removes the redirection in its network namespace.
 *
 * <p>Lifecycle: {@link #start} binds the socket (mode 0600, a stale file is replaced) and accepts
 * on a daemon platform thread; each connection is served on a virtual thread. Rule changes are
 * serialised by one lock (they are rare and each is a few short commands). {@link #close} stops
 * accepting and deletes the socket file.
 *
 * <p>Decisions: a pod found (by uid, else by namespace/name) and enrolled → ADD installs the rules
 * and answers {@code OK}; a pod not enrolled or not (yet) in the snapshot → {@code SKIP}. DEL
 * removes whatever of ours is in the netns, if the netns still exists, and answers {@code OK}.
 *
 * <p>ZDS hand-off (ISTIO-FACTS §5): with a {@link ZtunnelServer}, ADD installs the rules, then
 * sends ztunnel {@code AddWorkload} with the pod's netns fd and answers {@code OK} only on its
 * Ack — so the pod's first packet finds ztunnel's listeners — and {@code ERR} with the reason on
 * a NACK or when no ztunnel acks in time (the rules stay: a captured pod without a listener is
 * refused, never let out uncaptured). DEL sends {@code DelWorkload} before removing the rules.
 * Without a ZDS server (tests, host mode) ADD stops after the rules.
 *
 * <p>Label changes of running pods: every ADD, enrolled or not, is remembered in {@link KnownPods}
 * (persisted in the agent's state file when it has one) until the pod's DEL. {@link #reconcile}
 * compares that list with each new snapshot: a known pod that became enrolled gets its rules and
 * is handed to ztunnel; one that left ambient mode loses both. An agent that restarts with its
 * state file does the same for the pods that existed before it started. Reconciles run on one
 * agent thread, coalesced to the latest snapshot, so the config publisher never waits on iptables,
 * ztunnel or a scan of {@code /proc}.
 *
 * <p>Pods running before the agent was first installed on the node (no CNI ADD, no list): with
 * {@link #adoptRunningPods}, a reconcile that sees an enrolled pod of this node with an IP that
 * the list does not name looks for it in the host's {@code /proc} ({@link ProcNetnsFinder}: the
 * network namespace holding that IP), records it in the list with the path {@code
 * <proc>/<pid>/ns/net} of the namespace's lowest pid (the sandbox's pause process) and that
 * namespace's inode, and enrolls it as a CNI ADD would (rules, {@code AddWorkload}, annotation).
 * One scan per reconcile serves all such pods; an address a scan missed is not a reason to scan
 * again for {@link #RESCAN_AFTER}. Should that process exit while the pod lives (its path then
 * names no namespace, or a reused pid's), the next reconcile finds the namespace again by the
 * pod's IP and keeps the pod if the inode is the same, else forgets it. Matching by IP rather than
 * by the pod uid in a process's cgroup path (istio-cni reads the uid there and checks the IP)
 * needs no knowledge of the runtime's cgroup layout; an IP found in two namespaces is adopted in
 * neither.
 *
 * <p>Invariant: one pod's enrollment changes are serialised by a lock per pod key (CNI ADD/DEL
 * and reconcile never interleave on one pod); rule commands by {@code rulesLock}.
 */
public final class NodeAgent implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(NodeAgent.class);
  /** How long an address a scan of {@code /proc} did not find is no reason for another scan. */
  static final Duration RESCAN_AFTER = Duration.ofSeconds(30);

  private final Path socket;
  private final ServerSocketChannel server;
  private final Supplier<MeshSnapshot> snapshots;
  private final InpodRedirect redirect;
  private final ReentrantLock rulesLock = new ReentrantLock();
  private final Map<String, ReentrantLock> podLocks = new ConcurrentHashMap<>();
  private final KnownPods known;
  private final Thread acceptor;
  private final ExecutorService reconciler;
  private final AtomicReference<MeshSnapshot> toReconcile = new AtomicReference<>();
  private volatile ZtunnelServer zds;
  private volatile RedirectionAnnotator annotator = RedirectionAnnotator.NONE;
  private volatile String node = "";
  private volatile ProcNetnsFinder finder;
  /** Addresses a scan looked for and missed, with when (clock nanos). */
  private final Map<InetAddress, Long> missed = new ConcurrentHashMap<>();
  private final AtomicInteger scans = new AtomicInteger();
  private volatile LongSupplier clock = System::nanoTime;

  private NodeAgent(Path socket, ServerSocketChannel server, Supplier<MeshSnapshot> snapshots,
      InpodRedirect redirect, KnownPods known) {
    this.socket = socket;
    this.server = server;
    this.snapshots = snapshots;
    this.redirect = redirect;
    this.known = known;
    this.acceptor = Thread.ofPlatform().daemon().name("cni-agent-accept").unstarted(this::acceptLoop);
    this.reconciler = Executors.newSingleThreadExecutor(
        Thread.ofPlatform().daemon().name("cni-agent-reconcile").factory());
  }

  /** An agent that answers {@link #answer} but listens nowhere (tests). */
  static NodeAgent unstarted(Supplier<MeshSnapshot> snapshots, InpodRedirect redirect) {
    return new NodeAgent(null, null, snapshots, redirect, KnownPods.inMemory());
  }

  /** Binds {@code socket} and starts answering; the pods it learns are kept in memory only. */
  public static NodeAgent start(Path socket, Supplier<MeshSnapshot> snapshots, InpodRedirect redirect)
      throws IOException {
    return start(socket, snapshots, redirect, null);
  }

  /**
   * Binds {@code socket} and starts answering; the pods CNI told it about are kept in {@code
   * podsFile} (null: in memory only) and read back from it first, so that a restarted agent
   * follows label changes of pods that started before it.
   */
  public static NodeAgent start(Path socket, Supplier<MeshSnapshot> snapshots, InpodRedirect redirect,
      Path podsFile) throws IOException {
    KnownPods known = podsFile == null ? KnownPods.inMemory() : KnownPods.load(podsFile);
    Path parent = socket.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    Files.deleteIfExists(socket);
    ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    try {
      server.bind(UnixDomainSocketAddress.of(socket));
      Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-------"));
    } catch (IOException e) {
      server.close();
      throw e;
    }
    NodeAgent agent = new NodeAgent(socket, server, snapshots, redirect, known);
    agent.acceptor.start();
    log.info("cni-agent listening on {}", socket);
    return agent;
  }

  public Path socket() {
    return socket;
  }

  /**
   * Hands enrolled pods to ztunnel through {@code server} from now on (the agent closes it). Set
   * once, right after {@link #start}.
   */
  public NodeAgent zds(ZtunnelServer server) {
    this.zds = server;
    return this;
  }

  /**
   * Sets the pod annotation {@code ambient.istio.io/redirection} through {@code a} from now on.
   * Set once, right after {@link #start}.
   */
  public NodeAgent annotator(RedirectionAnnotator a) {
    this.annotator = a;
    return this;
  }

  /**
   * Captures the enrolled pods of {@code node} that CNI never told this agent about — those
   * running before it was first installed — finding their network namespaces by IP in {@code proc}
   * (the host's {@code /proc}; the DaemonSet mounts it at {@code /host/proc}). Set once, right
   * after {@link #start}; without it such pods are captured only when they restart.
   */
  public NodeAgent adoptRunningPods(String node, Path proc) {
    this.node = node;
    this.finder = new ProcNetnsFinder(proc);
    log.info("cni-agent: pods of node {} running before this agent are found in {}", node, proc);
    return this;
  }

  /** Tests: the time source of {@link #RESCAN_AFTER}. */
  void clock(LongSupplier nanos) {
    this.clock = nanos;
  }

  /** Tests: how many scans of {@code /proc} ran. */
  int scans() {
    return scans.get();
  }

  private void acceptLoop() {
    while (true) {
      SocketChannel ch;
      try {
        ch = server.accept();
      } catch (ClosedChannelException e) {
        return;
      } catch (IOException e) {
        log.warn("cni-agent: accept failed: {}", e.toString());
        continue;
      }
      Thread.ofVirtual().name("cni-agent-conn").start(() -> serve(ch));
    }
  }

  private void serve(SocketChannel ch) {
    try (ch) {
      String line = readLine(ch);
      String answer;
      if (line == null) {
        answer = AgentProtocol.ERR + " request line missing or longer than "
            + AgentProtocol.MAX_LINE + " bytes";
      } else {
        answer = answer(line);
      }
      ByteBuffer out = ByteBuffer.wrap((answer + "\n").getBytes(StandardCharsets.UTF_8));
      while (out.hasRemaining()) {
        ch.write(out);
      }
    } catch (IOException e) {
      log.warn("cni-agent: connection failed: {}", e.toString());
    }
  }

  private static String readLine(SocketChannel ch) throws IOException {
    ByteBuffer in = ByteBuffer.allocate(AgentProtocol.MAX_LINE);
    while (in.hasRemaining()) {
      int n = ch.read(in);
      for (int i = 0; i < in.position(); i++) {
        if (in.get(i) == '\n') {
          return new String(in.array(), 0, i, StandardCharsets.UTF_8);
        }
      }
      if (n < 0) {
        return null;
      }
    }
    return null;
  }

  /** Answers one request line; never throws. */
  String answer(String line) {
    AgentProtocol.Request req;
    try {
      req = AgentProtocol.Request.parse(line);
    } catch (IllegalArgumentException e) {
      return AgentProtocol.ERR + " bad request: " + e.getMessage();
    }
    String pod = "pod " + req.namespace() + "/" + req.pod();
    try {
      switch (req.verb()) {
        case AgentProtocol.ADD -> {
          String key = KnownPods.keyOf(req.uid(), req.namespace(), req.pod());
          ReentrantLock lock = podLock(key);
          lock.lock();
          try {
            KnownPods.Pod before = known.find(key);
            if (!req.netns().isEmpty()) {
              known.put(new KnownPods.Pod(key, req.uid(), req.namespace(), req.pod(), req.netns(),
                  before != null && before.netns().equals(req.netns()) && before.captured()));
            }
            Optional<Workload> w = find(snapshots.get(), req.uid(), req.namespace(), req.pod());
            if (w.isEmpty() || !w.get().enrolled()) {
              log.info("cni-agent: ADD {}: {}", pod, w.isEmpty() ? "not in the mesh config" : "not enrolled");
              return AgentProtocol.SKIP;
            }
            if (req.netns().isEmpty()) {
              return AgentProtocol.ERR + " ADD " + pod + ": no netns given";
            }
            String error = enroll(known.find(key), w.get(), true);
            if (!error.isEmpty()) {
              log.warn("cni-agent: ADD {}: ztunnel did not take the pod: {}", pod, error);
              return AgentProtocol.ERR + " " + pod + " is redirected but ztunnel is not serving it: "
                  + oneLine(error);
            }
            return AgentProtocol.OK;
          } finally {
            lock.unlock();
          }
        }
        case AgentProtocol.DEL -> {
          String key = KnownPods.keyOf(req.uid(), req.namespace(), req.pod());
          ReentrantLock lock = podLock(key);
          lock.lock();
          try {
            KnownPods.Pod p = known.find(key);
            if (p == null) {
              p = known.findByName(req.namespace(), req.pod());
            }
            String uid = req.uid();
            if (uid.isEmpty() && p != null) {
              uid = p.uid();
            }
            ZtunnelServer z = zds;
            if (z != null) {
              if (uid.isEmpty()) {
                uid = z.pods().values().stream()
                    .filter(x -> x.namespace().equals(req.namespace()) && x.name().equals(req.pod()))
                    .map(ZtunnelServer.Pod::uid).findFirst().orElse("");
              }
              if (!uid.isEmpty()) {
                String error = z.delete(uid);
                if (!error.isEmpty()) {
                  log.warn("cni-agent: DEL {}: ztunnel: {}", pod, error);
                }
              }
            }
            if (!req.netns().isEmpty() && Files.exists(Path.of(req.netns()))) {
              withRules(() -> redirect.remove(req.netns()));
              log.info("cni-agent: DEL {}: redirection removed from {}", pod, req.netns());
            }
            if (p != null) {
              known.remove(p.key());
            }
            return AgentProtocol.OK;
          } finally {
            lock.unlock();
            podLocks.remove(key, lock);
          }
        }
        default -> {
          Optional<Workload> w = find(snapshots.get(), req.uid(), req.namespace(), req.pod());
          if (w.isEmpty() || !w.get().enrolled()) {
            return AgentProtocol.SKIP;
          }
          InpodRedirect.Check[] check = new InpodRedirect.Check[1];
          withRules(() -> check[0] = redirect.check(req.netns()));
          if (!check[0].complete()) {
            return AgentProtocol.ERR + " " + pod + " is enrolled but its netns " + req.netns()
                + " lacks: " + String.join("; ", check[0].missing());
          }
          return AgentProtocol.OK;
        }
      }
    } catch (RedirectException e) {
      log.warn("cni-agent: {} {}: {}", req.verb(), pod, e.getMessage());
      return AgentProtocol.ERR + " " + oneLine(e.getMessage());
    } catch (RuntimeException e) {
      log.warn("cni-agent: {} {} failed", req.verb(), pod, e);
      return AgentProtocol.ERR + " " + oneLine(String.valueOf(e));
    }
  }

  /**
   * Installs the rules in {@code p}'s netns and hands it to ztunnel; returns "" when ztunnel serves
   * it (or there is no ztunnel server), else why not. With {@code wait} false an absent ztunnel is
   * not waited for: the pod goes into the next ztunnel's snapshot. Caller holds the pod's lock.
   */
  private String enroll(KnownPods.Pod p, Workload wl, boolean wait) throws RedirectException {
    withRules(() -> redirect.install(p.netns()));
    known.put(p.withCaptured(true));
    log.info("cni-agent: {}: redirection installed in {}", p.describe(), p.netns());
    ZtunnelServer z = zds;
    if (z != null) {
      String uid = p.uid().isEmpty() ? wl.uid() : p.uid();
      ZtunnelServer.Pod zp = new ZtunnelServer.Pod(uid, wl.namespace(), wl.name(),
          wl.serviceAccount(), Path.of(p.netns()));
      String error = wait ? z.add(zp) : z.offer(zp);
      if (error == null) {
        log.info("cni-agent: {}: no ztunnel connected; it gets the pod when it connects", p.describe());
        return "";
      }
      if (!error.isEmpty()) {
        return error;
      }
      log.info("cni-agent: {}: ztunnel serves it", p.describe());
    }
    annotator.enabled(wl.namespace(), wl.name());
    return "";
  }

  /** Takes {@code p} back from ztunnel and removes its rules. Caller holds the pod's lock. */
  private void unenroll(KnownPods.Pod p, String uid) {
    try {
      if (Files.exists(Path.of(p.netns()))) {
        withRules(() -> redirect.remove(p.netns()));
      }
      known.put(p.withCaptured(false));
    } catch (RedirectException | RuntimeException e) {
      log.warn("cni-agent: {} left ambient mode but its rules could not be removed: {}",
          p.describe(), e.getMessage());
    }
    ZtunnelServer z = zds;
    String error = z == null || uid.isEmpty() ? "" : z.delete(uid);
    annotator.removed(p.namespace(), p.name());
    log.info("cni-agent: {} left ambient mode: redirection removed{}", p.describe(),
        error.isEmpty() ? ", ztunnel stopped serving it" : "; ztunnel: " + error);
  }

  /**
   * Follows the configuration for every pod CNI told this agent about: one that is enrolled now
   * but not captured (labelled after it started, or known from before an agent restart) gets its
   * rules and goes to ztunnel; one still in the snapshot but no longer enrolled (un-labelled)
   * loses its rules and is taken back from ztunnel, so its traffic flows uncaptured again. A pod
   * missing from the snapshot is left alone (its CNI DEL comes); one whose netns is gone is
   * forgotten. With {@link #adoptRunningPods}, enrolled pods of this node that CNI never named are
   * found running and captured too. Returns at once: the work runs on the agent's reconcile
   * thread, coalesced to the latest snapshot. Never throws.
   */
  public void reconcile(MeshSnapshot snapshot) {
    if (toReconcile.getAndSet(snapshot) == null) {
      try {
        reconciler.execute(() -> reconcileNow(toReconcile.getAndSet(null)));
      } catch (RejectedExecutionException e) {
        // closed
      }
    }
  }

  /** Reconciles right away on the caller's thread (tests, and the reconcile thread). */
  void reconcileNow(MeshSnapshot snapshot) {
    if (snapshot == null) {
      return;
    }
    ZtunnelServer z = zds;
    Set<String> handed = z == null ? Set.of() : z.pods().keySet();
    ProcNetnsFinder f = finder;
    List<KnownPods.Pod> lost = new ArrayList<>();
    for (KnownPods.Pod seen : known.all()) {
      ReentrantLock lock = podLock(seen.key());
      lock.lock();
      try {
        KnownPods.Pod p = known.find(seen.key());
        if (p == null || p.netns().isEmpty()) {
          continue; // deleted meanwhile
        }
        Optional<Workload> w = find(snapshot, p.uid(), p.namespace(), p.name());
        String uid = p.uid().isEmpty() ? w.map(Workload::uid).orElse("") : p.uid();
        if (!netnsPresent(p)) {
          if (p.adopted() && f != null) {
            lost.add(p); // its process exited: look for the namespace again below
          } else {
            forget(p, uid, z, handed);
          }
          continue;
        }
        if (w.isPresent()) {
          follow(p, w.get(), uid, z, handed);
        }
      } catch (RedirectException | RuntimeException e) {
        log.warn("cni-agent: {}: reconcile failed: {}", seen.describe(), e.getMessage());
      } finally {
        lock.unlock();
      }
    }
    if (f != null) {
      try {
        adopt(snapshot, f, lost, z, handed);
      } catch (RuntimeException e) {
        log.warn("cni-agent: looking for running pods in {} failed", f.proc(), e);
      }
    }
  }

  /**
   * Captures known pod {@code p} if {@code w} is enrolled and it is not (fully) captured, releases
   * it if {@code w} is not enrolled and it is. Caller holds the pod's lock.
   */
  private void follow(KnownPods.Pod p, Workload w, String uid, ZtunnelServer z, Set<String> handed)
      throws RedirectException {
    boolean served = z == null || handed.contains(uid);
    if (w.enrolled() && !(p.captured() && served)) {
      String error = enroll(p, w, false);
      if (!error.isEmpty()) {
        log.warn("cni-agent: {} joined ambient mode but ztunnel did not take it: {}",
            p.describe(), error);
      } else {
        log.info("cni-agent: {} joined ambient mode: captured", p.describe());
      }
    } else if (!w.enrolled() && (p.captured() || handed.contains(uid))) {
      unenroll(p, uid);
    }
  }

  /** Whether {@code p}'s netns path still names its namespace. */
  private static boolean netnsPresent(KnownPods.Pod p) {
    if (!p.adopted()) {
      return Files.exists(Path.of(p.netns()));
    }
    ProcNetnsFinder.NetnsId id = ProcNetnsFinder.idOf(Path.of(p.netns()));
    return id != null && id.inode() == p.netnsInode();
  }

  /** Drops {@code p}, whose netns is gone, from the list and from ztunnel. Caller holds its lock. */
  private void forget(KnownPods.Pod p, String uid, ZtunnelServer z, Set<String> handed) {
    log.info("cni-agent: {}: its netns {} is gone; forgetting it", p.describe(), p.netns());
    known.remove(p.key());
    if (z != null && !uid.isEmpty() && handed.contains(uid)) {
      z.delete(uid);
    }
  }

  /**
   * One scan of {@code /proc} for the enrolled pods of this node that the list does not name
   * (and for the adopted pods in {@code lost}, whose recorded process exited), then: a lost pod
   * whose namespace is found again under another pid is kept with that path, else forgotten; a pod
   * the list does not name is recorded and enrolled as a CNI ADD would. Runs on the reconcile
   * thread; no scan when every address looked for was missed less than {@link #RESCAN_AFTER} ago.
   */
  private void adopt(MeshSnapshot snapshot, ProcNetnsFinder f, List<KnownPods.Pod> lost,
      ZtunnelServer z, Set<String> handed) {
    long now = clock.getAsLong();
    Map<InetAddress, Workload> wanted = new LinkedHashMap<>();
    boolean fresh = !lost.isEmpty();
    for (KnownPods.Pod p : lost) {
      find(snapshot, p.uid(), p.namespace(), p.name())
          .ifPresent(w -> w.addresses().forEach(a -> wanted.putIfAbsent(a, w)));
    }
    List<Workload> unknown = new ArrayList<>();
    String n = node;
    for (Workload w : n.isEmpty() ? List.<Workload>of() : snapshot.findWorkloadsOnNode(n)) {
      // hostNetwork pods are never enrolled (and the host's netns is never a candidate)
      if (!w.enrolled() || w.addresses().isEmpty()
          || known.find(w.uid()) != null || known.findByName(w.namespace(), w.name()) != null) {
        continue;
      }
      unknown.add(w);
      for (InetAddress a : w.addresses()) {
        wanted.putIfAbsent(a, w);
        Long at = missed.get(a);
        fresh |= at == null || now - at >= RESCAN_AFTER.toNanos();
      }
    }
    missed.keySet().retainAll(wanted.keySet());
    if (!fresh) {
      return;
    }
    scans.incrementAndGet();
    Map<InetAddress, ProcNetnsFinder.Found> found = f.find(wanted.keySet());
    for (InetAddress a : wanted.keySet()) {
      if (found.containsKey(a)) {
        missed.remove(a);
      } else {
        missed.put(a, now);
      }
    }
    // one namespace per pod, one pod per namespace; anything else is adopted nowhere
    Map<String, ProcNetnsFinder.Found> byUid = new LinkedHashMap<>();
    Map<ProcNetnsFinder.NetnsId, String> owner = new LinkedHashMap<>();
    Set<String> conflicting = new HashSet<>();
    for (Map.Entry<InetAddress, Workload> e : wanted.entrySet()) {
      ProcNetnsFinder.Found fd = found.get(e.getKey());
      if (fd == null) {
        continue;
      }
      String uid = e.getValue().uid();
      ProcNetnsFinder.Found before = byUid.putIfAbsent(uid, fd);
      if (before != null && !before.id().equals(fd.id())) {
        conflicting.add(uid);
      }
      String o = owner.putIfAbsent(fd.id(), uid);
      if (o != null && !o.equals(uid)) {
        conflicting.add(uid);
        conflicting.add(o);
      }
    }
    for (String uid : conflicting) {
      log.warn("cni-agent: pod {} matches more than one network namespace, or shares one with"
          + " another pod, in {}; not adopted", uid, f.proc());
      byUid.remove(uid);
    }

    for (KnownPods.Pod p : lost) {
      ReentrantLock lock = podLock(p.key());
      lock.lock();
      try {
        if (!p.equals(known.find(p.key()))) {
          continue; // deleted or re-added meanwhile
        }
        Optional<Workload> w = find(snapshot, p.uid(), p.namespace(), p.name());
        String uid = p.uid().isEmpty() ? w.map(Workload::uid).orElse("") : p.uid();
        ProcNetnsFinder.Found fd = w.map(x -> byUid.get(x.uid())).orElse(null);
        if (fd != null && fd.id().inode() == p.netnsInode()) {
          KnownPods.Pod moved = p.withNetns(fd.netns().toString());
          known.put(moved);
          if (z != null && !uid.isEmpty()) {
            z.repath(uid, fd.netns());
          }
          log.info("cni-agent: {}: the process that held its netns exited; the netns is now"
              + " {} (pid {})", p.describe(), fd.netns(), fd.pid());
          follow(moved, w.get(), uid, z, handed);
        } else {
          forget(p, uid, z, handed);
          if (w.isPresent() && w.get().enrolled() && fd != null && node.equals(w.get().node())) {
            unknown.add(w.get()); // a new sandbox without a CNI ADD: adopted below
          }
        }
      } catch (RedirectException | RuntimeException e) {
        log.warn("cni-agent: {}: reconcile failed: {}", p.describe(), e.getMessage());
      } finally {
        lock.unlock();
      }
    }

    int adopted = 0;
    for (Workload w : unknown) {
      ProcNetnsFinder.Found fd = byUid.get(w.uid());
      if (fd == null) {
        continue;
      }
      String key = KnownPods.keyOf(w.uid(), w.namespace(), w.name());
      ReentrantLock lock = podLock(key);
      lock.lock();
      try {
        if (known.find(key) != null || known.findByName(w.namespace(), w.name()) != null) {
          continue; // a CNI ADD came meanwhile
        }
        KnownPods.Pod p = new KnownPods.Pod(key, w.uid(), w.namespace(), w.name(),
            fd.netns().toString(), false, fd.id().inode());
        known.put(p);
        log.info("cni-agent: {} was running before this agent knew it: its address {} is in the"
            + " netns of pid {} ({}); enrolling it", p.describe(), fd.address().getHostAddress(),
            fd.pid(), fd.netns());
        String error = enroll(p, w, false);
        if (!error.isEmpty()) {
          log.warn("cni-agent: {} (adopted) is redirected but ztunnel did not take it: {}",
              p.describe(), error);
        } else {
          log.info("cni-agent: {} (adopted): captured", p.describe());
        }
        adopted++;
      } catch (RedirectException | RuntimeException e) {
        log.warn("cni-agent: {}/{} (found running): enrollment failed, retried on the next"
            + " reconcile: {}", w.namespace(), w.name(), e.getMessage());
      } finally {
        lock.unlock();
      }
    }
    if (!unknown.isEmpty()) {
      log.info("cni-agent: {} enrolled pod(s) of node {} unknown to this agent; {} found running"
          + " in {} and adopted", unknown.size(), n, adopted, f.proc());
    }
  }

  private ReentrantLock podLock(String key) {
    return podLocks.computeIfAbsent(key, k -> new ReentrantLock());
  }

  private static Optional<Workload> find(MeshSnapshot snapshot, String uid, String namespace,
      String name) {
    if (!uid.isEmpty()) {
      Optional<Workload> byUid = snapshot.findWorkloadByUid(uid);
      if (byUid.isPresent()) {
        return byUid;
      }
    }
    for (Workload w : snapshot.workloads()) {
      if (w.namespace().equals(namespace) && w.name().equals(name)) {
        return Optional.of(w);
      }
    }
    return Optional.empty();
  }

  private interface RulesAction {
    void run() throws RedirectException;
  }

  private void withRules(RulesAction action) throws RedirectException {
    rulesLock.lock();
    try {
      action.run();
    } finally {
      rulesLock.unlock();
    }
  }

  private static String oneLine(String s) {
    return s.replace('\n', ' ').replace('\r', ' ');
  }

  @Override
  public void close() throws IOException {
    reconciler.shutdownNow();
    if (zds != null) {
      zds.close();
    }
    if (server == null) {
      return;
    }
    server.close();
    try {
      acceptor.join(2000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    Files.deleteIfExists(socket);
  }
}
