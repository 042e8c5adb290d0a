package dev.ambientj.cni.agent;

import dev.ambientj.cni.redirect.InpodRedirect;
import dev.ambientj.cni.redirect.RedirectException;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Workload;
import java.io.IOException;
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
import java.util.Optional;
import java.util.concurrent.locks.ReentrantLock;
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
 */
public final class NodeAgent implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(NodeAgent.class);

  private final Path socket;
  private final ServerSocketChannel server;
  private final Supplier<MeshSnapshot> snapshots;
  private final InpodRedirect redirect;
  private final ReentrantLock rulesLock = new ReentrantLock();
  private final Thread acceptor;
  private volatile ZtunnelServer zds;

  private NodeAgent(
      Path socket, ServerSocketChannel server, Supplier<MeshSnapshot> snapshots, InpodRedirect redirect) {
    this.socket = socket;
    this.server = server;
    this.snapshots = snapshots;
    this.redirect = redirect;
    this.acceptor = Thread.ofPlatform().daemon().name("cni-agent-accept").unstarted(this::acceptLoop);
  }

  /** An agent that answers {@link #answer} but listens nowhere (tests). */
  static NodeAgent unstarted(Supplier<MeshSnapshot> snapshots, InpodRedirect redirect) {
    return new NodeAgent(null, null, snapshots, redirect);
  }

  /** Binds {@code socket} and starts answering. */
  public static NodeAgent start(Path socket, Supplier<MeshSnapshot> snapshots, InpodRedirect redirect)
      throws IOException {
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
    NodeAgent agent = new NodeAgent(socket, server, snapshots, redirect);
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
          Optional<Workload> w = find(req);
          if (w.isEmpty() || !w.get().enrolled()) {
            log.info("cni-agent: ADD {}: {}", pod, w.isEmpty() ? "not in the mesh config" : "not enrolled");
            return AgentProtocol.SKIP;
          }
          if (req.netns().isEmpty()) {
            return AgentProtocol.ERR + " ADD " + pod + ": no netns given";
          }
          withRules(() -> redirect.install(req.netns()));
          log.info("cni-agent: ADD {}: redirection installed in {}", pod, req.netns());
          ZtunnelServer z = zds;
          if (z != null) {
            Workload wl = w.get();
            String uid = req.uid().isEmpty() ? wl.uid() : req.uid();
            String error = z.add(new ZtunnelServer.Pod(uid, wl.namespace(), wl.name(),
                wl.serviceAccount(), Path.of(req.netns())));
            if (!error.isEmpty()) {
              log.warn("cni-agent: ADD {}: ztunnel did not take the pod: {}", pod, error);
              return AgentProtocol.ERR + " " + pod + " is redirected but ztunnel is not serving it: "
                  + oneLine(error);
            }
            log.info("cni-agent: ADD {}: ztunnel serves it", pod);
          }
          return AgentProtocol.OK;
        }
        case AgentProtocol.DEL -> {
          ZtunnelServer z = zds;
          if (z != null) {
            String uid = req.uid();
            if (uid.isEmpty()) {
              uid = z.pods().values().stream()
                  .filter(p -> p.namespace().equals(req.namespace()) && p.name().equals(req.pod()))
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
          return AgentProtocol.OK;
        }
        default -> {
          Optional<Workload> w = find(req);
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
   * Follows the configuration: a pod handed to ztunnel that is still in the snapshot but no longer
   * enrolled (un-labelled) gets its rules removed and is taken back from ztunnel, so its traffic
   * flows uncaptured again. A pod missing from the snapshot is left alone (its CNI DEL comes).
   * Called from the config publisher's thread; never throws.
   */
  public void reconcile(MeshSnapshot snapshot) {
    ZtunnelServer z = zds;
    if (z == null) {
      return;
    }
    for (ZtunnelServer.Pod p : z.pods().values()) {
      Optional<Workload> w = snapshot.findWorkloadByUid(p.uid());
      if (w.isEmpty()) {
        w = snapshot.workloads().stream()
            .filter(x -> x.namespace().equals(p.namespace()) && x.name().equals(p.name())).findFirst();
      }
      if (w.isEmpty() || w.get().enrolled()) {
        continue;
      }
      String pod = "pod " + p.namespace() + "/" + p.name();
      try {
        if (Files.exists(p.netns())) {
          withRules(() -> redirect.remove(p.netns().toString()));
        }
      } catch (RedirectException | RuntimeException e) {
        log.warn("cni-agent: {} left ambient mode but its rules could not be removed: {}", pod,
            e.getMessage());
      }
      String error = z.delete(p.uid());
      log.info("cni-agent: {} left ambient mode: redirection removed{}", pod,
          error.isEmpty() ? ", ztunnel stopped serving it" : "; ztunnel: " + error);
    }
  }

  private Optional<Workload> find(AgentProtocol.Request req) {
    MeshSnapshot snapshot = snapshots.get();
    if (!req.uid().isEmpty()) {
      Optional<Workload> byUid = snapshot.findWorkloadByUid(req.uid());
      if (byUid.isPresent()) {
        return byUid;
      }
    }
    for (Workload w : snapshot.workloads()) {
      if (w.namespace().equals(req.namespace()) && w.name().equals(req.pod())) {
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
    if (zds != null) {
      zds.close();
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
