package dev.ambientj.hbone;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Copies bytes both ways between two channels — TCP↔tunnel, TCP↔TCP or tunnel↔tunnel alike.
 *
 * <p><b>Backpressure.</b> What one side reads is written to the other and flushed at the end of
 * each read batch. As soon as the destination stops being writable (checked after every write, so
 * a batch cannot overrun it) the source's auto-read is switched off; when the destination becomes
 * writable again auto-read is switched back on. For a tunnel that means the
 * stream stops reading, so its HTTP/2 window is not returned and the peer stops sending.
 *
 * <p><b>Half-close.</b> End of input on one side (TCP FIN with {@code ALLOW_HALF_CLOSURE}, or
 * END_STREAM) ends the output of the other once everything before it is written (FIN or
 * END_STREAM). When both directions have ended, both channels are closed. A side whose input has
 * ended is finished reading: it is never asked to read again — not by {@code start}, not when
 * backpressure lifts (there is nothing left to read, and on Netty 4.2.18's epoll re-arming such a
 * socket used to fail in {@code epoll_ctl}; see {@code GuardedEpollIoHandler}).
 *
 * <p><b>Errors.</b> An exception on either side (a TCP reset, an RST_STREAM, an I/O error) resets
 * the other side abortively ({@link TunnelChannels#reset}: RST_STREAM CANCEL or TCP RST) and closes
 * both. A tunnel that closes before its peer ended it (no END_STREAM, no RST_STREAM: its HBONE
 * connection died) is an error too — passing it on as a FIN would hand the other side a clean end
 * of a stream that was cut short. A TCP channel that closes without ending its input first (one
 * without half-closure) closes the other after what was read is flushed.
 *
 * <p><b>Buffers.</b> Every {@code ByteBuf} read from one side is written to the other; the write
 * takes ownership (the channel releases it once written, or on failure). Non-buffer messages are
 * released and dropped.
 *
 * <p><b>Threading.</b> The two channels may live on different event loops (pooled HBONE
 * connections serve many downstream channels). Per-direction state is touched only by the source
 * channel's loop — reading is switched on only there, so the check "has its input ended?" and the
 * switch cannot race with the end of input; shared completion state is atomic.
 *
 * <p><b>Caller duties.</b> TCP channels must have {@code ChannelOption.ALLOW_HALF_CLOSURE} set (else
 * a FIN closes the channel and half-close degrades to close), should have auto-read off until
 * {@code start} ({@code start} switches it on), and — for an accepted downstream socket whose
 * relay starts only after an upstream connect — should get {@link #holdInbound} in its initializer
 * so bytes and a FIN that arrive meanwhile are kept. Tunnel channels need neither.
 */
public final class Relay {

  private static final Logger log = LoggerFactory.getLogger(Relay.class);
  static final String HANDLER_NAME = "hbone-relay";

  private Relay() {}

  /**
   * Holds what {@code ch} receives until {@link #start} takes the channel over. Install it when the
   * channel is accepted (in the child initializer), before anything slow such as dialing the other
   * side: auto-read off is not enough, because epoll reads a socket whose peer has already sent
   * data and FIN (EPOLLRDHUP) regardless of auto-read, and bytes read with no relay attached would
   * be dropped. Held buffers are owned by the hold and released if the channel closes first.
   * Tunnels need no hold (their codec already holds).
   */
  public static void holdInbound(Channel ch) {
    ch.pipeline().addLast(InboundHold.NAME, new InboundHold());
  }

  /** Starts relaying between {@code a} and {@code b}; {@code listener} is called once both are closed. */
  public static void start(Channel a, Channel b, RelayListener listener) {
    Session s = new Session(a, b, listener);
    Direction ab = new Direction(s, a, b, s.aToB);
    Direction ba = new Direction(s, b, a, s.bToA);
    ab.reverse = ba;
    ba.reverse = ab;
    a.pipeline().addLast(HANDLER_NAME, ab);
    b.pipeline().addLast(HANDLER_NAME, ba);
    a.closeFuture().addListener(s::closed);
    b.closeFuture().addListener(s::closed);
    ab.startReading();
    ba.startReading();
  }

  private static final class Session {
    final Channel a;
    final Channel b;
    final RelayListener listener;
    final AtomicLong aToB = new AtomicLong();
    final AtomicLong bToA = new AtomicLong();
    final AtomicReference<Throwable> cause = new AtomicReference<>();
    final AtomicInteger halfClosed = new AtomicInteger();
    final AtomicInteger closedCount = new AtomicInteger();

    Session(Channel a, Channel b, RelayListener listener) {
      this.a = a;
      this.b = b;
      this.listener = listener;
    }

    void directionDone() {
      if (halfClosed.incrementAndGet() == 2) {
        a.close();
        b.close();
      }
    }

    void abort(Throwable t) {
      if (cause.compareAndSet(null, t)) {
        log.debug("relay {} <-> {} aborted", a, b, t); // with the cause chain: the first error
      }
      TunnelChannels.reset(a);
      TunnelChannels.reset(b);
    }

    void closed(io.netty.util.concurrent.Future<? super Void> ignored) {
      if (closedCount.incrementAndGet() == 2) {
        try {
          listener.onClose(aToB.get(), bToA.get(), cause.get());
        } catch (RuntimeException e) {
          log.warn("relay listener failed", e);
        }
      }
    }
  }

  /** Reads {@code self}, writes {@code peer}; watches {@code self}'s writability for the reverse direction. */
  private static final class Direction extends ChannelInboundHandlerAdapter {
    private final Session s;
    private final Channel self;
    private final Channel peer;
    private final AtomicLong counter;
    /** The other direction (reads {@code peer}); set once before either handler is added. */
    Direction reverse;
    /** {@code self} delivered its end of input; touched only on {@code self}'s loop. */
    private boolean inputEnded;

    Direction(Session s, Channel self, Channel peer, AtomicLong counter) {
      this.s = s;
      this.self = self;
      this.peer = peer;
      this.counter = counter;
    }

    /**
     * Auto-read on, plus one explicit read (a tunnel hands over held bytes only on a read, also
     * when auto-read was already on). On {@code self}'s loop, after {@link #handlerAdded}.
     */
    void startReading() {
      onSelfLoop(() -> {
        if (readable()) {
          self.config().setAutoRead(true);
          self.read();
        }
      });
    }

    /** Switches auto-read back on after backpressure. May be called from any thread. */
    void resumeReading() {
      onSelfLoop(() -> {
        if (readable() && !self.config().isAutoRead()) {
          self.config().setAutoRead(true);
        }
      });
    }

    /**
     * Whether {@code self} may be asked to read. Never a channel whose input has ended: everything
     * it had was read. Checked on {@code self}'s loop, where the input-shutdown state changes, so
     * it cannot race.
     */
    private boolean readable() {
      return !inputEnded && self.isActive() && !TunnelChannels.isInputShutdown(self);
    }

    private void onSelfLoop(Runnable task) {
      if (self.eventLoop().inEventLoop()) {
        task.run();
      } else {
        self.eventLoop().execute(task);
      }
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
      InboundHold hold = self.pipeline().get(InboundHold.class);
      if (hold != null) {
        hold.handOver(); // replays held bytes and events into this handler, then leaves
      }
      if (!self.isActive() && self.isRegistered()) {
        closedUnderUs(); // closed before we got here
      } else if (TunnelChannels.isInputShutdown(self)) {
        endOfInput();
      }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof ByteBuf buf) {
        counter.addAndGet(buf.readableBytes());
        peer.write(buf, peer.voidPromise()); // ownership moves to peer
        if (!peer.isWritable()) {
          // stop within the read batch: a batch from a stream can hold up to its whole window
          peer.flush();
          pauseSource();
        }
      } else {
        ReferenceCountUtil.release(msg);
      }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
      peer.flush();
      if (!peer.isWritable()) {
        pauseSource();
      }
    }

    private void pauseSource() {
      if (self.config().isAutoRead()) {
        self.config().setAutoRead(false);
        if (peer.isWritable()) { // became writable meanwhile: its event may have run before we stopped
          resumeReading();
        }
      }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
      if (self.isWritable()) {
        reverse.resumeReading(); // peer's loop decides, against its own input state
      }
      ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
      if (evt instanceof ChannelInputShutdownEvent) {
        endOfInput();
      }
      ReferenceCountUtil.release(evt);
    }

    private void endOfInput() {
      if (inputEnded) {
        return;
      }
      inputEnded = true;
      TunnelChannels.shutdownOutput(peer).addListener(f -> {
        if (f.isSuccess()) {
          s.directionDone();
        } else {
          s.abort(f.cause());
        }
      });
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      if (s.cause.get() == null) {
        closedUnderUs();
      } else {
        peer.close();
      }
      ctx.fireChannelInactive();
    }

    /** {@code self} closed while no error is known: a cut-short tunnel, or a TCP close. */
    private void closedUnderUs() {
      if (self instanceof Http2StreamChannel && !inputEnded && !TunnelChannels.isInputShutdown(self)) {
        s.abort(TunnelChannels.cutShort(self));
      } else {
        // closed without (or after) a half-close: deliver what was read, then close the other side
        peer.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      s.abort(cause);
    }
  }
}
