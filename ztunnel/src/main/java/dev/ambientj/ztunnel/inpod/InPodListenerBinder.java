package dev.ambientj.ztunnel.inpod;

import dev.ambientj.config.model.Workload;
import dev.ambientj.config.zds.Netns;
import dev.ambientj.hbone.transport.SocketOrigin;
import dev.ambientj.ztunnel.ListenerBinder;
import dev.ambientj.ztunnel.proxy.Ports;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.embedded.EmbeddedChannel;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * In-pod mode's {@link ListenerBinder}: a workload is served once the node agent has handed over
 * its pod's network namespace (ZDS); its listeners are created inside that namespace on the
 * {@link NetnsExecutor} thread — 15001/15006/15008 on the wildcard address, 15080 on loopback —
 * with {@code SO_MARK} 1337 and {@code SO_REUSEPORT}, and so are the sockets of the connections
 * its proxy opens ({@link #origin}).
 *
 * <p>Invariants: a pod is known by its ZDS uid (the Kubernetes pod UID); a workload of the
 * snapshot matches a pod by uid, else by namespace/name. Every registered pod owns its netns fd
 * until it is unregistered and closed. Thread-safe: registrations come from the ZDS thread,
 * lookups from the listener manager and the event loops (map reads only).
 */
public final class InPodListenerBinder implements ListenerBinder, AutoCloseable {
  private final NetnsExecutor executor;
  private final Map<String, PodNetwork> pods = new ConcurrentHashMap<>();
  /** The pod a served workload was bound in, by the workload's config uid. */
  private final Map<String, PodNetwork> byWorkloadUid = new ConcurrentHashMap<>();
  private volatile boolean ready;

  public InPodListenerBinder(NetnsExecutor executor) {
    this.executor = executor;
  }

  /**
   * Takes over {@code netnsFd} (validated as a network namespace) for pod {@code uid}. If the pod
   * is already known in the same namespace (a resync after reconnecting) the known one stays and
   * the new descriptor is closed; otherwise the new one replaces it and the old one is returned
   * for the caller to close after re-serving.
   */
  public Registration register(String uid, String namespace, String name, String serviceAccount,
      int netnsFd) throws IOException {
    try {
      Netns.checkNetwork(netnsFd);
    } catch (IOException e) {
      Netns.close(netnsFd);
      throw e;
    }
    String id;
    try {
      id = identity(netnsFd);
    } catch (IOException e) {
      Netns.close(netnsFd);
      throw e;
    }
    PodNetwork existing = pods.get(uid);
    if (existing != null && existing.netnsId().equals(id)) {
      Netns.close(netnsFd);
      return new Registration(existing, null);
    }
    PodNetwork pod = new PodNetwork(uid, namespace, name, serviceAccount, netnsFd, id, executor);
    pods.put(uid, pod);
    return new Registration(pod, existing);
  }

  /**
   * The identity of the network namespace open as {@code netnsFd}: {@code net:[inode]}, as
   * {@code /proc/<pid>/ns/net} names it. Not the descriptor's path: the node agent opens a pod's
   * namespace through a path of its own mount namespace ({@code /var/run/netns/…}, or {@code
   * /proc/<pid>/ns/net}), which differs between agents — a restarted agent handing over the same
   * namespace must be recognised as the same pod, not replace it.
   */
  static String identity(int netnsFd) throws IOException {
    // stat() follows /proc/self/fd's magic link to the namespace's nsfs inode
    Object inode = Files.getAttribute(Path.of("/proc/self/fd/" + netnsFd), "unix:ino");
    return "net:[" + inode + "]";
  }

  /** A registered pod and the one it replaced (to close once its listeners are gone), or null. */
  public record Registration(PodNetwork pod, PodNetwork replaced) {}

  /** Forgets pod {@code uid}; the caller closes it once its listeners are closed. */
  public PodNetwork unregister(String uid) {
    PodNetwork pod = pods.remove(uid);
    if (pod != null) {
      byWorkloadUid.values().removeIf(p -> p == pod);
    }
    return pod;
  }

  /** Forgets every pod whose uid is not in {@code keep}; returns them to close. */
  public List<PodNetwork> retainOnly(Set<String> keep) {
    List<PodNetwork> gone = new ArrayList<>();
    for (String uid : List.copyOf(pods.keySet())) {
      if (!keep.contains(uid)) {
        PodNetwork p = unregister(uid);
        if (p != null) {
          gone.add(p);
        }
      }
    }
    return gone;
  }

  /** The pods handed over now. */
  public List<PodNetwork> pods() {
    return List.copyOf(pods.values());
  }

  /** How many pods are handed over now. */
  public int podCount() {
    return pods.size();
  }

  public PodNetwork findPod(String uid) {
    return pods.get(uid);
  }

  /** Whether {@code workload} is the pod {@code pod}: by uid, else by namespace/name. */
  public static boolean matches(Workload workload, PodNetwork pod) {
    return workload.uid().equals(pod.uid())
        || (workload.namespace().equals(pod.namespace()) && workload.name().equals(pod.name()));
  }

  private PodNetwork find(Workload w) {
    PodNetwork p = pods.get(w.uid());
    if (p != null) {
      return p;
    }
    for (PodNetwork candidate : pods.values()) {
      if (matches(w, candidate)) {
        return candidate;
      }
    }
    return null;
  }

  /** Set by the ZDS client: connected to the node agent and its snapshot applied. */
  public void ready(boolean ready) {
    this.ready = ready;
  }

  @Override
  public boolean ready() {
    return ready;
  }

  @Override
  public boolean serves(Workload workload) {
    return find(workload) != null;
  }

  @Override
  public SocketOrigin origin(String workloadUid) {
    PodNetwork p = byWorkloadUid.get(workloadUid);
    return p != null ? p : SocketOrigin.HOST;
  }

  @Override
  public ChannelFuture bind(ServerBootstrap bootstrap, Workload workload, InetAddress address,
      int port) {
    PodNetwork pod = find(workload);
    if (pod == null) {
      return failed(new IOException("no network namespace from the node agent for pod "
          + workload.namespace() + "/" + workload.name()));
    }
    byWorkloadUid.put(workload.uid(), pod);
    InetAddress local = port == Ports.SOCKS5
        ? (address instanceof Inet4Address ? InetAddress.getLoopbackAddress() : InetAddress.ofLiteral("::1"))
        : InetAddress.ofLiteral(address instanceof Inet4Address ? "0.0.0.0" : "::");
    try {
      // The listening socket is created on the namespace thread (the channel's constructor); the
      // bind call itself then runs on the event loop, on that socket.
      return call(pod, () -> PodNetwork.createThen(bootstrap, true,
          (ch, p) -> ch.bind(new InetSocketAddress(local, port), p)));
    } catch (Exception e) {
      return failed(new IOException("cannot create a listener in " + pod + ": " + e.getMessage(), e));
    }
  }

  @Override
  public <T> T callInNetwork(Workload workload, java.util.concurrent.Callable<T> task)
      throws Exception {
    PodNetwork pod = byWorkloadUid.get(workload.uid());
    if (pod == null) {
      throw new IOException("no network namespace for pod " + workload.namespace() + "/"
          + workload.name());
    }
    return call(pod, task);
  }

  private static <T> T call(PodNetwork pod, java.util.concurrent.Callable<T> task) throws Exception {
    try {
      return pod.submit(task).get();
    } catch (java.util.concurrent.ExecutionException e) {
      throw e.getCause() instanceof Exception x ? x : e;
    }
  }

  private static ChannelFuture failed(Throwable cause) {
    return new EmbeddedChannel().newFailedFuture(cause);
  }

  @Override
  public InetSocketAddress originalDestination(Channel accepted) {
    return ListenerBinder.hostMode().originalDestination(accepted);
  }

  /** Closes every pod's namespace descriptor. */
  @Override
  public void close() {
    for (String uid : List.copyOf(pods.keySet())) {
      PodNetwork p = unregister(uid);
      if (p != null) {
        p.close();
      }
    }
    byWorkloadUid.clear();
  }

  @Override
  public String toString() {
    return "in-pod mode (" + pods.size() + " pods)";
  }
}
