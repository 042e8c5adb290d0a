package dev.ambientj.config.server;

import dev.ambientj.config.ca.RefusalLog;
import io.grpc.Attributes;
import io.grpc.Grpc;
import io.grpc.ServerTransportFilter;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.event.Level;

/**
 * Admits the connections the config server's listening sockets accept, before gRPC sees them: the
 * handler sits in each listening channel's pipeline, ahead of Netty's acceptor, and reads every
 * accepted child {@link Channel}.
 *
 * <p><b>Invariants</b> (all state lives on one event loop, {@link #loop}, the listeners' only
 * accepting thread; other threads post to it):
 *
 * <ul>
 *   <li>a connection counts as open from its accept until its socket is closed (not merely asked
 *       to close): that is what holds a descriptor;
 *   <li>at most {@code maxPerClient} are open from one source address, and at most {@code
 *       maxConnections} in all — plus one for each connection evicted to admit a newcomer whose
 *       close is not done yet (accepting pauses meanwhile, see below);
 *   <li>at most {@code maxPending} are in their handshake (accepted, gRPC not yet {@link
 *       #readiness ready}: TLS and the HTTP/2 preface and first SETTINGS not yet received);
 *   <li>a connection still in its handshake after {@code handshakeTimeout} is closed;
 *   <li>while {@value #MAX_CLOSING} or more closes this gate asked for are not done yet, or more
 *       than {@code maxConnections} are open, the listeners stop accepting (new connections wait in
 *       the kernel's backlog, holding no descriptor) until the I/O threads have caught up: a
 *       flood is accepted no faster than it can be closed.
 * </ul>
 *
 * <p>A new connection over the per-client cap is closed at once. One over the total or pending
 * cap takes the place of the oldest connection still in its handshake, which is closed — against
 * the obvious alternative of refusing the newcomer, because a real proxy finishes its handshake in
 * milliseconds while a flood's sockets never do: evicting the oldest keeps a flood of idle
 * sockets from locking real proxies out until the deadline. Only when every open connection has
 * finished its handshake is a newcomer over the total cap refused.
 *
 * <p>An accept that fails (EMFILE, ENFILE, ENOBUFS) pauses accepting for 50 ms, doubling while
 * failures continue up to 1 s, instead of retrying at once; the pause resets after an accept
 * succeeds. The exception is not passed on, so Netty's acceptor does not add its own pause.
 *
 * <p>Every refusal, eviction and deadline is counted ({@link #stats}) and logged, rate-limited.
 */
@ChannelHandler.Sharable
final class ConnectionGate extends ChannelInboundHandlerAdapter {
  private static final Logger log = LoggerFactory.getLogger(ConnectionGate.class);
  private static final long FIRST_ACCEPT_PAUSE_MILLIS = 50;
  private static final long MAX_ACCEPT_PAUSE_MILLIS = 1000;
  /** Closes asked for and not yet done above which accepting pauses. */
  static final int MAX_CLOSING = 64;

  /** Counters since start and the current gauges, for logs and tests. */
  record Stats(int open, int peakOpen, int pendingHandshakes, int closing, long accepted,
      long refusedPerClient, long refusedTotal, long evictedInHandshake, long handshakeTimeouts,
      long closedInHandshake, long acceptFailures) {}

  /** A connection is named by its two addresses, as gRPC's transport attributes give them. */
  private record Key(SocketAddress local, SocketAddress remote) {}

  /** One admitted connection; fields touched on {@link #loop} only. */
  private static final class Tracked {
    final Channel channel;
    final Key key;
    final InetAddress client;
    final long acceptedNanos;
    ScheduledFuture<?> deadline;
    /** This gate asked for the close (eviction, deadline) and it is not done yet. */
    boolean closing;

    Tracked(Channel channel, Key key, InetAddress client, long acceptedNanos) {
      this.channel = channel;
      this.key = key;
      this.client = client;
      this.acceptedNanos = acceptedNanos;
    }
  }

  private final EventLoop loop;
  private final int maxConnections;
  private final int maxPerClient;
  private final int maxPending;
  private final long handshakeTimeoutNanos;
  private final long descriptorLimit = ServerLimits.processDescriptorLimit();
  private final RefusalLog refusals = new RefusalLog(log);
  private final RefusalLog acceptFailureLog = new RefusalLog(log, Level.WARN);

  // Loop-confined state.
  private final Map<InetAddress, Integer> perClient = new HashMap<>();
  /** Connections in their handshake, oldest first. */
  private final LinkedHashMap<Key, Tracked> pending = new LinkedHashMap<>();
  private final List<Channel> listeners = new ArrayList<>();
  private int open;
  private int closing;
  private long acceptPauseMillis;
  private boolean pausedAfterAcceptFailure;

  // Read from any thread.
  private volatile int openGauge;
  private volatile int peakOpen;
  private volatile int pendingGauge;
  private volatile int closingGauge;
  private final AtomicLong accepted = new AtomicLong();
  private final AtomicLong refusedPerClient = new AtomicLong();
  private final AtomicLong refusedTotal = new AtomicLong();
  private final AtomicLong evicted = new AtomicLong();
  private final AtomicLong handshakeTimeouts = new AtomicLong();
  private final AtomicLong closedInHandshake = new AtomicLong();
  private final AtomicLong acceptFailures = new AtomicLong();

  /**
   * @param loop the event loop every listening channel this gate is added to is registered on
   */
  ConnectionGate(EventLoop loop, int maxConnections, int maxPerClient, int maxPending,
      long handshakeTimeoutNanos) {
    this.loop = loop;
    this.maxConnections = maxConnections;
    this.maxPerClient = maxPerClient;
    this.maxPending = Math.min(maxPending, maxConnections);
    this.handshakeTimeoutNanos = handshakeTimeoutNanos;
  }

  Stats stats() {
    return new Stats(openGauge, peakOpen, pendingGauge, closingGauge, accepted.get(),
        refusedPerClient.get(), refusedTotal.get(), evicted.get(), handshakeTimeouts.get(),
        closedInHandshake.get(), acceptFailures.get());
  }

  int maxConnections() {
    return maxConnections;
  }

  /**
   * Tells the gate which connections finished their handshake: gRPC calls {@code transportReady}
   * once TLS (if any) is done and the client's first SETTINGS frame has arrived.
   */
  ServerTransportFilter readiness() {
    return new ServerTransportFilter() {
      @Override
      public Attributes transportReady(Attributes attributes) {
        Key key = new Key(attributes.get(Grpc.TRANSPORT_ATTR_LOCAL_ADDR),
            attributes.get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR));
        onLoop(() -> ready(key));
        return attributes;
      }
    };
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    listeners.add(ctx.channel()); // a listening channel, registered on the loop
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    listeners.remove(ctx.channel());
  }

  /**
   * An accepted child channel (not yet registered): admitted and passed on to Netty's acceptor,
   * or closed. Other messages pass.
   */
  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (!(msg instanceof Channel child)) {
      ctx.fireChannelRead(msg);
      return;
    }
    acceptPauseMillis = 0;
    if (!(child.remoteAddress() instanceof InetSocketAddress remote)
        || remote.getAddress() == null) {
      child.unsafe().closeForcibly(); // the peer is already gone
      return;
    }
    InetAddress client = remote.getAddress();
    int fromClient = perClient.getOrDefault(client, 0);
    if (fromClient >= maxPerClient) {
      refuse(child, refusedPerClient, fromClient + " connections are open from "
          + client.getHostAddress() + " (--max-connections-per-client " + maxPerClient + ")");
      return;
    }
    if (open >= maxConnections && !evictOldestPending(child)) {
      refuse(child, refusedTotal, open + " connections are open, all past their handshake"
          + " (--max-connections " + maxConnections + ")");
      return;
    }
    if (pending.size() >= maxPending) {
      evictOldestPending(child);
    }
    Key key = new Key(child.localAddress(), remote);
    Tracked t = new Tracked(child, key, client, System.nanoTime());
    open++;
    perClient.merge(client, 1, Integer::sum);
    pending.put(key, t);
    t.deadline = loop.schedule(() -> handshakeDeadline(t), handshakeTimeoutNanos,
        TimeUnit.NANOSECONDS);
    child.closeFuture().addListener(f -> onLoop(() -> closed(t)));
    accepted.incrementAndGet();
    gauges();
    updateAccepting();
    ctx.fireChannelRead(child);
  }

  /** Accept failed: pause accepting, with backoff. */
  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    if (!(cause instanceof IOException)) {
      ctx.fireExceptionCaught(cause);
      return;
    }
    acceptFailures.incrementAndGet();
    acceptPauseMillis = acceptPauseMillis == 0 ? FIRST_ACCEPT_PAUSE_MILLIS
        : Math.min(MAX_ACCEPT_PAUSE_MILLIS, acceptPauseMillis * 2);
    pausedAfterAcceptFailure = true;
    updateAccepting();
    loop.schedule(() -> {
      pausedAfterAcceptFailure = false;
      updateAccepting();
    }, acceptPauseMillis, TimeUnit.MILLISECONDS);
    // Nothing here may open a file: there may be no descriptor left.
    acceptFailureLog.refused("accepting connections on " + ConfigServer.format(
        (InetSocketAddress) ctx.channel().localAddress()) + " failed (" + cause.getMessage()
        + "); paused for " + acceptPauseMillis + " ms with " + open
        + " connections open (descriptor limit " + descriptorLimit + ")");
  }

  /** Accepting stops while the I/O threads owe closes, over the cap, or after a failed accept. */
  private void updateAccepting() {
    boolean accept = !pausedAfterAcceptFailure && closing < MAX_CLOSING && open <= maxConnections;
    for (Channel listener : listeners) {
      if (listener.config().isAutoRead() != accept) {
        listener.config().setAutoRead(accept);
      }
    }
  }

  private void refuse(Channel child, AtomicLong counter, String why) {
    counter.incrementAndGet();
    child.unsafe().closeForcibly(); // not registered yet: closed here, on the accepting thread
    refusals.refused("refused a connection from " + ConfigServer.format(
        (InetSocketAddress) child.remoteAddress()) + ": " + why);
  }

  /** Closes the oldest connection still in its handshake to make room for {@code newcomer}. */
  private boolean evictOldestPending(Channel newcomer) {
    Iterator<Tracked> oldest = pending.values().iterator();
    if (!oldest.hasNext()) {
      return false;
    }
    Tracked t = oldest.next();
    oldest.remove();
    evicted.incrementAndGet();
    close(t);
    refusals.refused("closed a connection from " + ConfigServer.format(
        (InetSocketAddress) t.channel.remoteAddress()) + " still in its handshake after "
        + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t.acceptedNanos) + " ms to admit "
        + ConfigServer.format((InetSocketAddress) newcomer.remoteAddress()) + " ("
        + pending.size() + " more in their handshake, " + open + " open; --max-pending-handshakes "
        + maxPending + ", --max-connections " + maxConnections + ")");
    return true;
  }

  private void handshakeDeadline(Tracked t) {
    if (pending.remove(t.key, t)) {
      handshakeTimeouts.incrementAndGet();
      close(t);
      refusals.refused("closed a connection from " + ConfigServer.format(
          (InetSocketAddress) t.channel.remoteAddress()) + ": no TLS and HTTP/2 handshake within "
          + TimeUnit.NANOSECONDS.toMillis(handshakeTimeoutNanos) + " ms (--handshake-timeout)");
    }
  }

  /**
   * Asks the connection's I/O thread to close its socket; it stays open (counted) until it is
   * closed. The close goes around the pipeline: {@code channel.close()} would reach gRPC's
   * handler, which closes gracefully (GOAWAY, then a PING it waits 10 s for) — meant for HTTP/2
   * peers, not for a socket that never finished its handshake.
   */
  private void close(Tracked t) {
    t.deadline.cancel(false);
    t.closing = true;
    closing++;
    gauges();
    updateAccepting();
    Channel c = t.channel;
    c.eventLoop().execute(() -> c.unsafe().close(c.unsafe().voidPromise()));
  }

  private void ready(Key key) {
    Tracked t = pending.remove(key);
    if (t != null) {
      t.deadline.cancel(false);
      gauges();
    }
  }

  /** The socket is closed: its places in the caps are free. */
  private void closed(Tracked t) {
    if (pending.remove(t.key, t)) {
      closedInHandshake.incrementAndGet(); // by the client, or a failed TLS handshake
      t.deadline.cancel(false);
    }
    if (t.closing) {
      closing--;
    }
    open--;
    perClient.computeIfPresent(t.client, (c, n) -> n == 1 ? null : n - 1);
    gauges();
    updateAccepting();
  }

  private void gauges() {
    openGauge = open;
    pendingGauge = pending.size();
    closingGauge = closing;
    if (open > peakOpen) {
      peakOpen = open;
    }
  }

  private void onLoop(Runnable task) {
    if (loop.inEventLoop()) {
      task.run();
      return;
    }
    try {
      loop.execute(task);
    } catch (RejectedExecutionException e) {
      // the server is stopping; nothing left to count
    }
  }
}
