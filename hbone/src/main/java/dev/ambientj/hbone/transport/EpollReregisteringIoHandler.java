package dev.ambientj.hbone.transport;

import io.netty.channel.IoHandle;
import io.netty.channel.IoHandler;
import io.netty.channel.IoHandlerContext;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.IoOps;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollIoOps;

/**
 * Netty's epoll {@link IoHandler} with one defect worked around: once a channel's interest set
 * becomes empty, Netty 4.2.18 removes the descriptor from epoll ({@code EPOLL_CTL_DEL}) but keeps
 * treating it as added, so the next interest ({@code EPOLL_CTL_MOD}) fails with {@code ENOENT}.
 * The set becomes empty on every half-closed socket (peer's FIN read, nothing pending to write);
 * the next write that fills the socket buffer then needs {@code EPOLLOUT}, fails with an unchecked
 * exception, and Netty shuts the output down — a relay under backpressure after a client's
 * half-close lost the rest of its response that way ("Channel output shutdown").
 *
 * <p>Each registration here remembers that it was emptied and, when an interest comes back,
 * registers the channel anew (a fresh registration adds the descriptor again). Everything else is
 * Netty's handler unchanged. Runs on the event loop, as registrations do.
 */
final class EpollReregisteringIoHandler implements IoHandler {
  private final IoHandler epoll;

  private EpollReregisteringIoHandler(IoHandler epoll) {
    this.epoll = epoll;
  }

  static IoHandlerFactory newFactory() {
    IoHandlerFactory epoll = EpollIoHandler.newFactory();
    return executor -> new EpollReregisteringIoHandler(epoll.newHandler(executor));
  }

  @Override
  public void initialize() {
    epoll.initialize();
  }

  @Override
  public int run(IoHandlerContext context) {
    return epoll.run(context);
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
    return new Registration(handle, epoll.register(handle));
  }

  @Override
  public void wakeup() {
    epoll.wakeup();
  }

  @Override
  public boolean isCompatible(Class<? extends IoHandle> handleType) {
    return epoll.isCompatible(handleType);
  }

  /** A registration that re-adds its descriptor after Netty removed it for an empty interest set. */
  private final class Registration implements IoRegistration {
    private final IoHandle handle;
    private IoRegistration current;
    private boolean emptied;

    Registration(IoHandle handle, IoRegistration current) {
      this.handle = handle;
      this.current = current;
    }

    @Override
    public <T> T attachment() {
      return current.attachment();
    }

    @Override
    public long submit(IoOps ops) {
      boolean empty = ((EpollIoOps) ops).value() == EpollIoOps.NONE.value();
      if (emptied && !empty && current.isValid()) {
        current.cancel(); // forgets the descriptor (its EPOLL_CTL_DEL fails quietly: already gone)
        try {
          current = epoll.register(handle);
        } catch (Exception e) {
          throw new IllegalStateException("re-registering " + handle + " with epoll failed", e);
        }
      }
      emptied = empty;
      return current.submit(ops);
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
