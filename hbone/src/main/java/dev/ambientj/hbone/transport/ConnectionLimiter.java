package dev.ambientj.hbone.transport;

import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.util.AttributeKey;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * Caps on the connections a server holds: how many are open, and how many of those are still in
 * a handshake phase (accepted, not yet relaying: a SOCKS5 greeting, a TLS handshake, an upstream
 * connect). A connection over a cap is refused at once — reset, so it costs neither side a
 * descriptor or a TIME_WAIT — and counted.
 *
 * <p>Limiters nest: a listener's limiter is a {@link #child} of its proxy's, and an admitted
 * connection counts at every level, so one listener can never take more than its own cap and all
 * listeners together never more than the proxy's. Sockets a proxy opens itself (upstream
 * connections) take a slot with {@link #tryAcquireConnection()} at the level they belong to.
 *
 * <p>Lifecycle of an admitted channel: {@link #admit} counts it (as in handshake or not);
 * {@link #handshakeDone} ends its handshake phase; closing the channel releases what is left. The
 * channel carries its admission as an attribute, so both are idempotent and safe from any thread.
 *
 * <p>Invariants: a level's counts never exceed its caps (slots are taken with compare-and-set);
 * every slot taken is given back exactly once; a refusal is counted at the level that refused.
 */
public final class ConnectionLimiter {

  /** Which cap refused a connection. */
  public enum Limit { CONNECTIONS, HANDSHAKES }

  /** A refused admission: the level and the cap that refused it. */
  public record Refusal(ConnectionLimiter limiter, Limit limit) {
    @Override
    public String toString() {
      return limiter.scope + (limit == Limit.CONNECTIONS
          ? " connection limit " + limiter.maxConnections
          : " handshake limit " + limiter.maxHandshakes);
    }
  }

  private static final AttributeKey<Admission> ADMISSION =
      AttributeKey.valueOf(ConnectionLimiter.class, "admission");

  private final String scope;
  private final ConnectionLimiter parent;
  private final int maxConnections;
  private final int maxHandshakes;
  private final AtomicInteger connections = new AtomicInteger();
  private final AtomicInteger handshakes = new AtomicInteger();
  private final LongAdder refusedConnections = new LongAdder();
  private final LongAdder refusedHandshakes = new LongAdder();

  private ConnectionLimiter(String scope, ConnectionLimiter parent, int maxConnections,
      int maxHandshakes) {
    if (maxConnections < 1 || maxHandshakes < 1) {
      throw new IllegalArgumentException(scope + ": connection and handshake limits must be >= 1"
          + " (got " + maxConnections + " and " + maxHandshakes + ")");
    }
    this.scope = scope;
    this.parent = parent;
    this.maxConnections = maxConnections;
    this.maxHandshakes = maxHandshakes;
  }

  /** A top-level limiter (e.g. a whole proxy). {@code scope} names it in messages. */
  public static ConnectionLimiter create(String scope, int maxConnections, int maxHandshakes) {
    return new ConnectionLimiter(scope, null, maxConnections, maxHandshakes);
  }

  /** A limiter whose connections also count here (e.g. one listener of this proxy). */
  public ConnectionLimiter child(String scope, int maxConnections, int maxHandshakes) {
    return new ConnectionLimiter(scope, this, maxConnections, maxHandshakes);
  }

  /**
   * Admits the accepted channel {@code ch}: counts it open at this level and every parent, and in
   * a handshake phase if {@code inHandshake}. Returns null when admitted (the channel's close
   * releases it), else the cap that refused it; a refused channel is not counted — close it with
   * {@link #reset}.
   */
  public Refusal admit(Channel ch, boolean inHandshake) {
    Refusal refused = acquire(inHandshake);
    if (refused != null) {
      return refused;
    }
    Admission admission = new Admission(this, inHandshake);
    ch.attr(ADMISSION).set(admission);
    ch.closeFuture().addListener(f -> admission.release());
    return null;
  }

  /**
   * Ends the handshake phase of {@code ch} (its relay started): it keeps counting as open only.
   * Idempotent; a no-op for a channel not admitted in a handshake phase.
   */
  public static void handshakeDone(Channel ch) {
    Admission admission = ch.attr(ADMISSION).get();
    if (admission != null) {
      admission.handshakeDone();
    }
  }

  /** Whether {@code ch} was admitted in a handshake phase that has not ended yet. */
  public static boolean inHandshake(Channel ch) {
    Admission admission = ch.attr(ADMISSION).get();
    return admission != null && admission.inHandshake.get();
  }

  /** Closes {@code ch} with a TCP reset (SO_LINGER 0): nothing lingers on either side. */
  public static void reset(Channel ch) {
    try {
      ch.config().setOption(ChannelOption.SO_LINGER, 0);
    } catch (RuntimeException e) {
      // not a TCP socket (tests): a plain close will do
    }
    ch.close();
  }

  /**
   * Takes one connection slot here and in every parent for a socket the server opens itself;
   * false (counted as refused) when a cap is reached. Give it back with {@link #releaseConnection}.
   */
  public boolean tryAcquireConnection() {
    return acquire(false) == null;
  }

  /** Gives back a slot of {@link #tryAcquireConnection()}. */
  public void releaseConnection() {
    release(false);
  }

  public String scope() {
    return scope;
  }

  public int maxConnections() {
    return maxConnections;
  }

  public int maxHandshakes() {
    return maxHandshakes;
  }

  /** Connections open now at this level (its children's included). */
  public int connections() {
    return connections.get();
  }

  /** Connections in a handshake phase now at this level (its children's included). */
  public int handshakes() {
    return handshakes.get();
  }

  /** Connections this level's {@code limit} refused so far. */
  public long refused(Limit limit) {
    return (limit == Limit.CONNECTIONS ? refusedConnections : refusedHandshakes).sum();
  }

  private Refusal acquire(boolean handshake) {
    for (ConnectionLimiter level = this; level != null; level = level.parent) {
      Limit full = null;
      if (!increment(level.connections, level.maxConnections)) {
        full = Limit.CONNECTIONS;
      } else if (handshake && !increment(level.handshakes, level.maxHandshakes)) {
        level.connections.decrementAndGet();
        full = Limit.HANDSHAKES;
      }
      if (full != null) {
        for (ConnectionLimiter taken = this; taken != level; taken = taken.parent) {
          taken.connections.decrementAndGet();
          if (handshake) {
            taken.handshakes.decrementAndGet();
          }
        }
        (full == Limit.CONNECTIONS ? level.refusedConnections : level.refusedHandshakes)
            .increment();
        return new Refusal(level, full);
      }
    }
    return null;
  }

  private void release(boolean handshakeOnly) {
    for (ConnectionLimiter level = this; level != null; level = level.parent) {
      if (handshakeOnly) {
        level.handshakes.decrementAndGet();
      } else {
        level.connections.decrementAndGet();
      }
    }
  }

  private static boolean increment(AtomicInteger count, int max) {
    for (;;) {
      int now = count.get();
      if (now >= max) {
        return false;
      }
      if (count.compareAndSet(now, now + 1)) {
        return true;
      }
    }
  }

  @Override
  public String toString() {
    return scope + " (" + connections.get() + "/" + maxConnections + " open, " + handshakes.get()
        + "/" + maxHandshakes + " in handshake)";
  }

  /** One admitted channel's slots; each is given back once. */
  private static final class Admission {
    private final ConnectionLimiter limiter;
    private final AtomicBoolean inHandshake;
    private final AtomicBoolean open = new AtomicBoolean(true);

    Admission(ConnectionLimiter limiter, boolean inHandshake) {
      this.limiter = limiter;
      this.inHandshake = new AtomicBoolean(inHandshake);
    }

    void handshakeDone() {
      if (inHandshake.compareAndSet(true, false)) {
        limiter.release(true);
      }
    }

    void release() {
      if (open.compareAndSet(true, false)) {
        handshakeDone();
        limiter.release(false);
      }
    }
  }
}
