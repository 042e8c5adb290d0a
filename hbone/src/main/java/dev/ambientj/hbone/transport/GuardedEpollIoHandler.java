package dev.ambientj.hbone.transport;

import io.netty.channel.IoEvent;
import io.netty.channel.IoHandle;
import io.netty.channel.IoHandler;
import io.netty.channel.IoHandlerContext;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.IoOps;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.unix.Errors;
import io.netty.channel.unix.FileDescriptor;
import java.io.UncheckedIOException;

/**
 * Netty's epoll {@link IoHandler} with two defects of Netty 4.2.18 worked around. Everything else
 * is Netty's handler unchanged; all of it runs on the event loop, as registrations and events do.
 *
 * <p><b>Events for a reused descriptor number.</b> Netty handles one {@code epoll_wait} batch of
 * events by descriptor number. When handling an early event of the batch closes a socket (a reset
 * relay) and opens another (the next CONNECT's dial), the new socket gets the freed number, and a
 * later event of the same batch — for the old socket — is delivered to the new one. On a socket
 * still connecting that event read {@code ENOTCONN} ({@code NotYetConnectedException}), marked
 * its input shut down before it was even connected, and removed its descriptor from the epoll set
 * so that completing the connect failed in {@code epoll_ctl} ({@code ENOENT}): the CONNECT was
 * answered 503. A socket registered while a batch is being handled cannot have events in that
 * batch (they were collected before it existed), so here such events are dropped.
 *
 * <p><b>Interest sets that become empty.</b> Netty removes the descriptor from epoll
 * ({@code EPOLL_CTL_DEL}) when a channel's interest set becomes empty but keeps treating it as
 * added, so the next interest ({@code EPOLL_CTL_MOD}) fails with {@code ENOENT}. The set becomes
 * empty on every half-closed socket (peer's FIN read, nothing pending to write); the next write
 * that fills the socket buffer then needs {@code EPOLLOUT}, fails, and Netty shuts the output down
 * — a relay under backpressure after a client's half-close lost the rest of its response that way
 * ("Channel output shutdown"). Each registration here remembers that it was emptied and, when an
 * interest comes back, registers the channel anew (a fresh registration adds the descriptor
 * again); an {@code ENOENT} from any other cause is repaired the same way.
 */
final class GuardedEpollIoHandler implements IoHandler {
  private final IoHandler epoll;
  /** Counts {@link #run} calls; each handles one {@code epoll_wait} batch. */
  private long batch;
  /** Whether a batch is being handled now (registrations made now see its stale events). */
  private boolean handlingBatch;

  private GuardedEpollIoHandler(IoHandler epoll) {
    this.epoll = epoll;
  }

  static IoHandlerFactory newFactory() {
    IoHandlerFactory epoll = EpollIoHandler.newFactory();
    return executor -> new GuardedEpollIoHandler(epoll.newHandler(executor));
  }

  @Override
  public void initialize() {
    epoll.initialize();
  }

  @Override
  public int run(IoHandlerContext context) {
    batch++;
    handlingBatch = true;
    try {
      return epoll.run(context);
    } finally {
      handlingBatch = false;
    }
  }

  @Override
  public void prepareToDestroy() {
    epoll.prepareToDestroy();
  }

  @Override
  public void destroy() {
    epoll.destroy();
  }

  @Override
  public IoRegistration register(IoHandle handle) throws Exception {
    return new Registration(handle);
  }

  @Override
  public void wakeup() {
    epoll.wakeup();
  }

  @Override
  public boolean isCompatible(Class<? extends IoHandle> handleType) {
    return epoll.isCompatible(handleType);
  }

  /** Whether {@code e} is epoll_ctl's ENOENT: the descriptor is not in the epoll set. */
  static boolean isNoSuchEntry(UncheckedIOException e) {
    return e.getCause() instanceof Errors.NativeIoException n && n.expectedErr() == Errors.ERRNO_ENOENT_NEGATIVE;
  }

  /**
   * The channel's handle as Netty's handler sees it: drops the events of the batch during which
   * it was registered (they belong to an earlier socket with the same descriptor number).
   */
  private final class BatchAwareHandle implements EpollIoHandle {
    private final EpollIoHandle channel;
    /** The batch whose events are stale for this handle; -1 when registered between batches. */
    private final long staleBatch;

    BatchAwareHandle(EpollIoHandle channel) {
      this.channel = channel;
      this.staleBatch = handlingBatch ? batch : -1;
    }

    @Override
    public FileDescriptor fd() {
      return channel.fd();
    }

    @Override
    public void handle(IoRegistration registration, IoEvent event) {
      if (batch != staleBatch) {
        channel.handle(registration, event);
      }
    }

    @Override
    public void registered() {
      channel.registered();
    }

    @Override
    public void unregistered() {
      channel.unregistered();
    }

    @Override
    public void close() throws Exception {
      channel.close();
    }
  }

  /** A registration that re-adds its descriptor after Netty removed it. */
  private final class Registration implements IoRegistration {
    private final IoHandle handle;
    private IoRegistration current;
    private boolean emptied;

    Registration(IoHandle handle) throws Exception {
      this.handle = handle;
      this.current = registerWithEpoll();
    }

    private IoRegistration registerWithEpoll() throws Exception {
      return epoll.register(handle instanceof EpollIoHandle e ? new BatchAwareHandle(e) : handle);
    }

    @Override
    public <T> T attachment() {
      return current.attachment();
    }

    @Override
    public long submit(IoOps ops) {
      boolean empty = ((EpollIoOps) ops).value() == EpollIoOps.NONE.value();
      if (emptied && !empty && current.isValid()) {
        reregister();
      }
      emptied = empty;
      try {
        return current.submit(ops);
      } catch (UncheckedIOException e) {
        if (!isNoSuchEntry(e) || !current.isValid()) {
          throw e;
        }
        // The descriptor is not in the epoll set although Netty counts it as added. Removing
        // it: done already. Changing its interest: a fresh registration adds it again, and
        // EPOLL_CTL_ADD reports a readiness that is already there, so nothing is missed.
        if (empty) {
          return 0;
        }
        reregister();
        return current.submit(ops);
      }
    }

    private void reregister() {
      current.cancel(); // forgets the descriptor (its EPOLL_CTL_DEL fails quietly: already gone)
      try {
        current = registerWithEpoll();
      } catch (Exception e) {
        throw new IllegalStateException("re-registering " + handle + " with epoll failed", e);
      }
    }

    @Override
    public boolean isValid() {
      return current.isValid();
    }

    @Override
    public boolean cancel() {
      return current.cancel();
    }
  }
}
