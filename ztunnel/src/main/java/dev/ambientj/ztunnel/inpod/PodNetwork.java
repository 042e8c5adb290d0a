package dev.ambientj.ztunnel.inpod;

import dev.ambientj.config.zds.Netns;
import dev.ambientj.hbone.transport.SocketOrigin;
import io.netty.bootstrap.AbstractBootstrap;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelPromise;
import io.netty.channel.ChannelFuture;
import io.netty.channel.unix.UnixChannel;
import java.io.IOException;
import java.net.SocketAddress;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * One pod's network namespace as handed over by the node agent: its ZDS uid, workload info and
 * namespace descriptor (owned here until {@link #close()}). As a {@link SocketOrigin} it creates
 * sockets inside the namespace, marked {@code SO_MARK} 1337 so the pod's iptables rules let them
 * through uncaptured. Compared by identity: the HBONE pool keeps each pod's connections apart.
 */
public final class PodNetwork implements SocketOrigin, AutoCloseable {
  /** ztunnel's {@code PACKET_MARK}, matched by the pod's rules ({@code 0x539/0xfff}). */
  public static final int PACKET_MARK = 1337;

  private final String uid;
  private final String namespace;
  private final String name;
  private final String serviceAccount;
  private final int netnsFd;
  private final String netnsId;
  private final NetnsExecutor executor;
  /** Set by {@link #close}: no socket is made with the descriptor after it (its number may be reused). */
  private volatile boolean closed;

  PodNetwork(String uid, String namespace, String name, String serviceAccount, int netnsFd,
      String netnsId, NetnsExecutor executor) {
    this.uid = uid;
    this.namespace = namespace;
    this.name = name;
    this.serviceAccount = serviceAccount;
    this.netnsFd = netnsFd;
    this.netnsId = netnsId;
    this.executor = executor;
  }

  public String uid() {
    return uid;
  }

  public String namespace() {
    return namespace;
  }

  public String name() {
    return name;
  }

  public String serviceAccount() {
    return serviceAccount;
  }

  /** The namespace's identity ({@code net:[inode]}): the same pod handed over again compares equal. */
  String netnsId() {
    return netnsId;
  }

  int netnsFd() {
    return netnsFd;
  }

  /**
   * Runs {@code task} on the namespace thread inside this namespace — unless it was closed: a
   * descriptor number, once closed, may name another pod's namespace. {@link #close} runs on the
   * same thread after every task already queued, and the check is made there, so no task ever
   * enters a closed descriptor.
   */
  <T> CompletableFuture<T> submit(Callable<T> task) {
    if (closed) {
      return CompletableFuture.failedFuture(gone());
    }
    return executor.submit(netnsFd, () -> {
      if (closed) {
        throw gone();
      }
      return task.call();
    });
  }

  private IOException gone() {
    return new IOException(this + ": its network namespace was released (the pod was removed or handed over"
        + " again)");
  }

  @Override
  public CompletionStage<ChannelFuture> connect(Bootstrap bootstrap, SocketAddress remote) {
    return submit(() -> createThen(bootstrap, false, (ch, p) -> ch.connect(remote, p)));
  }

  /**
   * On the namespace thread: creates and registers the bootstrap's channel (Netty creates the
   * socket in the channel's constructor — here, inside the pod), marks the socket ({@code SO_MARK}
   * 1337, {@code SO_REUSEPORT} for listeners) while nothing else touches it yet, and once the
   * channel is registered runs {@code then} (bind or connect) on its event loop. Rather than
   * {@code bootstrap.bind/connect}, because options must be set before the bind/connect happens
   * and a bootstrap's channel factory cannot be wrapped once set.
   */
  static ChannelFuture createThen(AbstractBootstrap<?, ?> bootstrap, boolean listener,
      java.util.function.BiConsumer<Channel, ChannelPromise> then) throws IOException {
    ChannelFuture reg = bootstrap.register();
    Channel ch = reg.channel();
    if (reg.isDone() && !reg.isSuccess()) {
      return reg;
    }
    try {
      if (!(ch instanceof UnixChannel unix)) {
        throw new IOException("in-pod mode needs a native transport (epoll or io_uring), got "
            + ch.getClass().getSimpleName());
      }
      int fd = unix.fd().intValue();
      Netns.setIntOption(fd, Netns.SOL_SOCKET, Netns.SO_MARK, PACKET_MARK);
      if (listener) {
        Netns.setIntOption(fd, Netns.SOL_SOCKET, Netns.SO_REUSEPORT, 1);
      }
    } catch (IOException e) {
      ch.close();
      throw new IOException("cannot set SO_MARK/SO_REUSEPORT on a pod socket: " + e.getMessage(), e);
    }
    ChannelPromise promise = ch.newPromise();
    reg.addListener(f -> {
      if (f.isSuccess()) {
        then.accept(ch, promise);
      } else {
        promise.setFailure(f.cause());
      }
    });
    promise.addListener(ChannelFutureListener.CLOSE_ON_FAILURE);
    return promise;
  }

  /** Releases the descriptor, on the namespace thread after the tasks already queued for it. */
  @Override
  public void close() {
    closed = true;
    executor.submit(netnsFd, () -> {
      Netns.close(netnsFd);
      return null;
    });
  }

  @Override
  public String toString() {
    return "pod " + namespace + "/" + name + " (" + uid + ", " + netnsId + ")";
  }
}
