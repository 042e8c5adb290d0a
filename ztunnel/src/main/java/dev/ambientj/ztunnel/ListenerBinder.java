package dev.ambientj.ztunnel;

import dev.ambientj.config.model.Workload;
import dev.ambientj.hbone.transport.SocketOrigin;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import java.net.InetAddress;
import java.net.InetSocketAddress;

/**
 * The one seam between ztunnel's proxy logic and where its per-workload sockets live.
 *
 * <p>Host mode ({@link #hostMode()}): a pod IP is a loopback address and its listeners bind it
 * directly. In-pod mode ({@code inpod.InPodListenerBinder}) creates the listening sockets inside
 * the pod's network namespace, handed over by the node agent, and the sockets of connections the
 * workload's proxy opens (upstream TCP, HBONE) there too. Everything above this interface
 * — resolution, identity, HBONE — is the same code.
 */
public interface ListenerBinder {

  /**
   * Binds {@code bootstrap} (group, channel class and child handler already set) for
   * {@code workload} on {@code address:port}. Never throws: a failure completes the future.
   */
  ChannelFuture bind(ServerBootstrap bootstrap, Workload workload, InetAddress address, int port);

  /**
   * The destination a captured connection was originally sent to (ports 15001 and 15006):
   * {@code SO_ORIGINAL_DST} where the socket was redirected, else the local address (the TPROXY
   * case, and host mode without capture).
   */
  InetSocketAddress originalDestination(Channel accepted);

  /**
   * Whether this node serves {@code workload} (one of its local workloads in the snapshot) now.
   * Host mode: while the snapshot says it is enrolled. In-pod: while the node agent has handed
   * over its network namespace (ZDS Add until Del), whatever the snapshot says of enrollment — the
   * agent owns the pod's redirection rules and removes them before its Del, so a pod whose
   * namespace is un-labelled keeps its listeners until nothing is redirected to them any more,
   * as in Istio.
   */
  default boolean serves(Workload workload) {
    return workload.enrolled();
  }

  /**
   * Where the sockets of connections opened for the local workload {@code workloadUid} are
   * created (upstream TCP and HBONE). Called per connection; a map lookup at most.
   */
  default SocketOrigin origin(String workloadUid) {
    return SocketOrigin.HOST;
  }

  /** Whether the binder itself is ready (in-pod: connected to the node agent, snapshot received). */
  default boolean ready() {
    return true;
  }

  /**
   * Runs {@code task} on a thread in the network where {@code workload}'s listeners live (host
   * mode: this one; in-pod: the pod's namespace), e.g. to read {@code /proc/thread-self/net/tcp}
   * there. Blocking; never call it on an event loop.
   */
  default <T> T callInNetwork(Workload workload, java.util.concurrent.Callable<T> task)
      throws Exception {
    return task.call();
  }

  /** Binds the workload's own (loopback) address; original destinations via {@code SO_ORIGINAL_DST}. */
  static ListenerBinder hostMode() {
    return HostListenerBinder.INSTANCE;
  }
}
