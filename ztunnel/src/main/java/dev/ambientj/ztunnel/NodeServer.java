package dev.ambientj.ztunnel;

import dev.ambientj.hbone.admin.AdminServer;
import io.netty.util.NetUtil;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One of ztunnel's node servers (admin, metrics, readiness) on its fixed port. Two ztunnels of one
 * node in host mode — a successor started while the old one drains — want the same node ports:
 * unlike the pod listeners these are not shared (a probe answered at random by either process
 * would say nothing), so the successor waits: while the port is in use it retries every
 * {@link #RETRY} and serves it as soon as the old process lets go. One line says it waits, one
 * that it serves. In a pod (in-pod mode) each ztunnel has its own address and never waits.
 */
final class NodeServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(NodeServer.class);
  static final Duration RETRY = Duration.ofSeconds(1);

  /** Binds and starts the server, or throws as {@link AdminServer#start} does. */
  @FunctionalInterface
  interface Starter {
    AdminServer start() throws InterruptedException;
  }

  private final String name;
  private final InetSocketAddress wanted;
  private volatile AdminServer server;
  private volatile ScheduledFuture<?> retry;
  private volatile boolean closed;

  private NodeServer(String name, InetSocketAddress wanted) {
    this.name = name;
    this.wanted = wanted;
  }

  /**
   * Starts the server now, or — when its port is in use — keeps retrying on {@code retries}.
   *
   * @throws IllegalStateException when the address cannot be bound for another reason
   */
  static NodeServer start(String name, InetSocketAddress address, Starter starter,
      ScheduledExecutorService retries) throws InterruptedException {
    NodeServer s = new NodeServer(name, address);
    try {
      s.server = starter.start();
      return s;
    } catch (IllegalStateException e) {
      if (!inUse(e.getCause()) || address.getPort() == 0) {
        throw e;
      }
      log.warn("{} port {} is in use (another ztunnel on this node, still draining?); serving it"
              + " as soon as it is free, trying every {} s", name,
          NetUtil.toSocketAddressString(address), RETRY.toSeconds());
    }
    s.retry = retries.scheduleWithFixedDelay(() -> s.tryAgain(starter), RETRY.toMillis(),
        RETRY.toMillis(), TimeUnit.MILLISECONDS);
    return s;
  }

  /** EADDRINUSE: a {@link BindException} from NIO, an errno message from the native transports. */
  static boolean inUse(Throwable cause) {
    return cause instanceof BindException
        || (cause != null && String.valueOf(cause.getMessage()).contains("Address already in use"));
  }

  private synchronized void tryAgain(Starter starter) {
    if (closed || server != null) {
      return;
    }
    try {
      server = starter.start();
      log.info("{} now serving on {}", name, NetUtil.toSocketAddressString(server.address()));
      retry.cancel(false);
    } catch (IllegalStateException e) {
      log.debug("{}: {}", name, e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** The bound address, or the wanted one while waiting for it. */
  InetSocketAddress address() {
    AdminServer s = server;
    return s != null ? s.address() : wanted;
  }

  @Override
  public synchronized void close() {
    closed = true;
    if (retry != null) {
      retry.cancel(false);
    }
    if (server != null) {
      server.close();
    }
  }
}
