package dev.ambientj.cni.agent;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.ambientj.config.zds.Netns;
import dev.ambientj.config.zds.SeqPacketListener;
import dev.ambientj.config.zds.SeqPacketSocket;
import dev.ambientj.config.zds.proto.AddWorkload;
import dev.ambientj.config.zds.proto.DelWorkload;
import dev.ambientj.config.zds.proto.KeepWorkload;
import dev.ambientj.config.zds.proto.SnapshotSent;
import dev.ambientj.config.zds.proto.Version;
import dev.ambientj.config.zds.proto.WorkloadInfo;
import dev.ambientj.config.zds.proto.WorkloadRequest;
import dev.ambientj.config.zds.proto.WorkloadResponse;
import dev.ambientj.config.zds.proto.ZdsHello;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node agent's ZDS server (ISTIO-FACTS §5): ztunnel connects to a {@code SOCK_SEQPACKET}
 * socket (default {@code /var/run/ztunnel/ztunnel.sock}), says {@code ZdsHello V1}, receives the
 * snapshot — an {@code AddWorkload} with the netns fd for every enrolled pod the agent knows
 * ({@code KeepWorkload} if its netns cannot be opened), each acked — then {@code SnapshotSent},
 * then live Adds and Dels.
 *
 * <p>Design note. One platform thread accepts; each ztunnel connection gets a platform thread that
 * owns the socket and works through a queue, one request in flight at a time (the protocol is
 * request/Ack). The newest connection is the current one: it gets the whole snapshot, then every
 * live Add and Del. A connection it superseded stays open and gets nothing more — during a
 * rolling update (the DaemonSet surges) that is the old ztunnel, which keeps serving its pods
 * until it has drained and exits; a restarted ztunnel's dead connection is found by the
 * keepalive. Were the old one closed instead, it would reconnect and supersede the new one, and
 * the two would take turns every few milliseconds. When the current connection ends while
 * superseded ones are open, those are closed too, so that their ztunnels reconnect and the
 * newest of them gets a fresh snapshot instead of serving a stale set. While idle the connection thread checks every {@link #KEEPALIVE} that ztunnel is
 * still there (a short read that must time out; end-of-stream means it is gone). Read and write
 * deadlines are {@link #DEADLINE}. {@link #add} blocks its caller (a CNI request's thread, never
 * an event loop) until ztunnel acked, NACKed or the deadline passed.
 *
 * <p>Invariant: {@link #pods} is the set of enrolled pods the agent has handed to ztunnel or will
 * hand over on the next connection; an Add registers a pod before it is sent, a Del forgets it.
 */
public final class ZtunnelServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ZtunnelServer.class);
  /** Istio's default path (ztunnel's {@code INPOD_UDS}). */
  public static final String DEFAULT_SOCKET = "/var/run/ztunnel/ztunnel.sock";
  static final Duration DEADLINE = Duration.ofSeconds(5);
  static final Duration KEEPALIVE = Duration.ofSeconds(5);
  /** How long a live Add waits for a ztunnel to be connected before failing. */
  static final Duration CONNECT_WAIT = Duration.ofSeconds(10);

  /** A pod the agent enrolled: what ztunnel needs to serve it. */
  public record Pod(String uid, String namespace, String name, String serviceAccount, Path netns) {}

  private record Pending(WorkloadRequest request, Path netns, CompletableFuture<String> answer) {}

  /** Queued to wake a connection's thread so that it ends (see {@link Connection#retire}). */
  private static final Pending RETIRE = new Pending(null, null, null);

  private final SeqPacketListener listener;
  private final Map<String, Pod> pods = new ConcurrentHashMap<>();
  private final Thread acceptor;
  private volatile Connection current;
  /** Older connections still open (guarded by {@code this}); they get no requests. */
  private final Set<Connection> superseded = new HashSet<>();
  private volatile CompletableFuture<Connection> synced = new CompletableFuture<>();
  private volatile boolean closed;

  private ZtunnelServer(SeqPacketListener listener) {
    this.listener = listener;
    this.acceptor = Thread.ofPlatform().daemon().name("cni-agent-zds-accept").unstarted(this::acceptLoop);
  }

  /** Binds {@code socket} (a stale file is replaced) and waits for ztunnel. */
  public static ZtunnelServer start(Path socket) throws IOException {
    ZtunnelServer s = new ZtunnelServer(SeqPacketListener.bind(socket));
    Files.setPosixFilePermissions(socket, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
    s.acceptor.start();
    log.info("cni-agent: ZDS server listening on {}", socket);
    return s;
  }

  public Path socket() {
    return listener.path();
  }

  /** Whether a ztunnel is connected and has received the snapshot. */
  public boolean connected() {
    Connection c = current;
    return c != null && synced.isDone() && !synced.isCompletedExceptionally();
  }

  /**
   * Hands {@code pod} to ztunnel and waits for its Ack: returns "" when ztunnel serves the pod,
   * else why not (NACK, no ztunnel connected, deadline). The pod stays registered either way, so
   * a ztunnel that (re)connects gets it in its snapshot.
   */
  public String add(Pod pod) {
    pods.put(pod.uid(), pod);
    WorkloadRequest req = WorkloadRequest.newBuilder().setAdd(addOf(pod)).build();
    return send(req, pod.netns(), "pod " + pod.namespace() + "/" + pod.name());
  }

  /**
   * As {@link #add} when a ztunnel is connected; otherwise registers {@code pod} for the next
   * ztunnel's snapshot and returns null at once, without waiting for one to connect (for the
   * agent's reconcile, which must not stall on an absent ztunnel).
   */
  public String offer(Pod pod) {
    synchronized (this) { // against a connection completing its snapshot: see Connection.run
      pods.put(pod.uid(), pod);
      if (!connected()) {
        return null;
      }
    }
    WorkloadRequest req = WorkloadRequest.newBuilder().setAdd(addOf(pod)).build();
    return send(req, pod.netns(), "pod " + pod.namespace() + "/" + pod.name());
  }

  /**
   * Points the registered pod {@code uid} at {@code netns} (another path to the same network
   * namespace, e.g. another process of the pod) for the snapshots of ztunnels that connect later;
   * sends nothing: a connected ztunnel holds the namespace already.
   */
  public void repath(String uid, Path netns) {
    pods.computeIfPresent(uid, (k, p) ->
        new Pod(p.uid(), p.namespace(), p.name(), p.serviceAccount(), netns));
  }

  /** Tells ztunnel to stop serving pod {@code uid}; "" on Ack (or when no ztunnel is connected). */
  public String delete(String uid) {
    Pod pod = pods.remove(uid);
    if (current == null) {
      return ""; // a ztunnel that connects later never hears of it
    }
    WorkloadRequest req = WorkloadRequest.newBuilder()
        .setDel(DelWorkload.newBuilder().setUid(uid)).build();
    return send(req, null, pod == null ? "pod " + uid : "pod " + pod.namespace() + "/" + pod.name());
  }

  private String send(WorkloadRequest req, Path netns, String what) {
    long deadline = System.nanoTime() + CONNECT_WAIT.toNanos();
    try {
      Connection c;
      try {
        c = synced.get(CONNECT_WAIT.toMillis(), TimeUnit.MILLISECONDS);
      } catch (TimeoutException | ExecutionException e) {
        return "no ztunnel connected to " + socket() + " within " + CONNECT_WAIT.toSeconds()
            + " s (is ztunnel running in in-pod mode on this node?)";
      }
      CompletableFuture<String> answer = new CompletableFuture<>();
      c.queue.add(new Pending(req, netns, answer));
      long left = Math.max(DEADLINE.toNanos() * 2, deadline - System.nanoTime());
      return answer.get(left, TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      return "ztunnel did not acknowledge " + what + " in time";
    } catch (ExecutionException e) {
      return "ztunnel connection failed while handing over " + what + ": " + e.getCause().getMessage();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "interrupted";
    }
  }

  private static AddWorkload addOf(Pod pod) {
    return AddWorkload.newBuilder().setUid(pod.uid()).setWorkloadInfo(WorkloadInfo.newBuilder()
        .setName(pod.name()).setNamespace(pod.namespace())
        .setServiceAccount(pod.serviceAccount() == null ? "" : pod.serviceAccount())).build();
  }

  private void acceptLoop() {
    while (!closed) {
      SeqPacketSocket s;
      try {
        s = listener.accept();
      } catch (IOException e) {
        if (!closed) {
          log.warn("cni-agent: ZDS accept failed: {}", e.getMessage());
        }
        continue;
      }
      Connection c = new Connection(s);
      Connection old;
      synchronized (this) {
        old = current;
        current = c;
        if (old != null) {
          superseded.add(old);
        }
        if (synced.isDone()) {
          synced = new CompletableFuture<>();
        }
      }
      if (old != null) {
        log.info("cni-agent: a new ztunnel connected; it gets the pods from now on, the previous"
            + " one keeps what it has until it disconnects");
      }
      Thread.ofPlatform().daemon().name("cni-agent-zds-conn").start(c::run);
    }
  }

  /** One ztunnel connection: its socket, its queue, its thread. */
  private final class Connection {
    final SeqPacketSocket socket;
    final BlockingQueue<Pending> queue = new LinkedBlockingQueue<>();
    volatile boolean gone;

    Connection(SeqPacketSocket socket) {
      this.socket = socket;
    }

    void run() {
      try {
        socket.setTimeouts(DEADLINE);
        SeqPacketSocket.Received hello = socket.receive();
        if (hello == null) {
          throw new IOException("ztunnel closed before its hello");
        }
        closeFd(hello);
        ZdsHello h = ZdsHello.parseFrom(hello.data());
        if (h.getVersion() != Version.V1) {
          throw new IOException("ztunnel speaks ZDS version " + h.getVersion() + " (expected V1)");
        }
        int added = 0;
        Set<String> sent = new HashSet<>();
        for (Pod pod : List.copyOf(pods.values())) {
          sent.add(pod.uid());
          String error = exchange(WorkloadRequest.newBuilder().setAdd(addOf(pod)).build(), pod.netns());
          if (error == null) { // netns gone: ztunnel may keep what it has until the pod is deleted
            error = exchange(WorkloadRequest.newBuilder()
                .setKeep(KeepWorkload.newBuilder().setUid(pod.uid())).build(), null);
          }
          if (!error.isEmpty()) {
            log.warn("cni-agent: ztunnel NACKed pod {}/{} in the snapshot: {}", pod.namespace(),
                pod.name(), error);
          }
          added++;
        }
        exchange(WorkloadRequest.newBuilder().setSnapshotSent(SnapshotSent.getDefaultInstance()).build(), null);
        log.info("cni-agent: ztunnel connected; snapshot of {} pods sent", added);
        synchronized (ZtunnelServer.this) {
          if (current == this) {
            synced.complete(this);
            // pods offered while the snapshot was going out follow as live Adds; later offers
            // see connected() and send themselves
            for (Pod pod : pods.values()) {
              if (!sent.contains(pod.uid())) {
                CompletableFuture<String> answer = new CompletableFuture<>();
                answer.whenComplete((error, failure) -> {
                  if (error != null && !error.isEmpty()) {
                    log.warn("cni-agent: ztunnel NACKed pod {}/{}: {}", pod.namespace(), pod.name(), error);
                  }
                });
                queue.add(new Pending(WorkloadRequest.newBuilder().setAdd(addOf(pod)).build(),
                    pod.netns(), answer));
              }
            }
          }
        }
        while (!gone) {
          Pending p = queue.poll(KEEPALIVE.toMillis(), TimeUnit.MILLISECONDS);
          if (p == RETIRE) {
            break;
          }
          if (p == null) {
            keepalive();
            continue;
          }
          try {
            String error = exchange(p.request(), p.netns());
            p.answer().complete(error == null
                ? "cannot open the network namespace " + p.netns() : error);
          } catch (IOException e) {
            p.answer().completeExceptionally(e);
            throw e;
          }
        }
      } catch (IOException | RuntimeException e) {
        if (!gone && !closed) {
          log.warn("cni-agent: ztunnel connection lost: {}", e.getMessage());
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } finally {
        close();
        for (Pending p; (p = queue.poll()) != null; ) {
          if (p == RETIRE) {
            continue;
          }
          p.answer().completeExceptionally(new IOException("ztunnel disconnected"));
        }
      }
    }

    /**
     * Sends one request (with the netns fd when {@code netns} is set) and waits for its Ack.
     * Returns the Ack's error ("" = ACK), or null when the netns could not be opened (nothing sent).
     */
    private String exchange(WorkloadRequest req, Path netns) throws IOException {
      int fd = -1;
      if (netns != null) {
        try {
          fd = Netns.open(netns);
        } catch (IOException e) {
          return null;
        }
      }
      try {
        socket.send(req.toByteArray(), fd);
      } finally {
        Netns.close(fd); // ztunnel has its own copy now
      }
      SeqPacketSocket.Received r = socket.receive();
      if (r == null) {
        throw new IOException("ztunnel closed the connection");
      }
      closeFd(r);
      try {
        WorkloadResponse resp = WorkloadResponse.parseFrom(r.data());
        if (!resp.hasAck()) {
          throw new IOException("ztunnel answered without an Ack");
        }
        return resp.getAck().getError();
      } catch (InvalidProtocolBufferException e) {
        throw new IOException("cannot parse ztunnel's answer: " + e.getMessage(), e);
      }
    }

    /** A short read that must time out: end-of-stream means ztunnel is gone. */
    private void keepalive() throws IOException {
      socket.setTimeouts(Duration.ofMillis(10));
      try {
        SeqPacketSocket.Received r = socket.receive();
        if (r == null) {
          throw new IOException("ztunnel closed the connection");
        }
        closeFd(r);
        log.warn("cni-agent: unexpected message from ztunnel while idle (ignored)");
      } catch (IOException e) {
        if (!SeqPacketSocket.isTimeout(e)) {
          throw e;
        }
      } finally {
        socket.setTimeouts(DEADLINE);
      }
    }

    /**
     * Ends the connection from another thread: its own thread closes the socket once it wakes
     * (at once when idle, else after the exchange in flight, bounded by {@link #DEADLINE}). Only
     * that thread touches the descriptor: a closed descriptor's number is reused at once, and a
     * late recvmsg on it could read another socket's messages.
     */
    void retire() {
      gone = true;
      queue.add(RETIRE);
    }

    /** Closes the socket; on the connection's own thread only. */
    private void close() {
      gone = true;
      socket.close();
      List<Connection> stale = List.of();
      synchronized (ZtunnelServer.this) {
        if (current == this) {
          current = null;
          if (synced.isDone()) {
            synced = new CompletableFuture<>();
          }
          stale = List.copyOf(superseded);
          superseded.clear();
        } else {
          superseded.remove(this);
        }
      }
      if (!stale.isEmpty() && !closed) {
        log.info("cni-agent: the current ztunnel disconnected; closing {} older connection(s) so"
            + " that their ztunnels reconnect and resync", stale.size());
      }
      stale.forEach(Connection::retire);
    }
  }

  private static void closeFd(SeqPacketSocket.Received r) {
    if (r.hasFd()) {
      Netns.close(r.fd());
    }
  }

  /** The pods handed (or to be handed) to ztunnel, by uid. */
  public Map<String, Pod> pods() {
    return Map.copyOf(pods);
  }

  @Override
  public void close() {
    closed = true;
    listener.close();
    List<Connection> open;
    synchronized (this) {
      open = new ArrayList<>(superseded);
      if (current != null) {
        open.add(current);
      }
    }
    open.forEach(Connection::retire);
    try {
      acceptor.join(2000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
