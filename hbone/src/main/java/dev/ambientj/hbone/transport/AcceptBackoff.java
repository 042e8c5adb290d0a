package dev.ambientj.hbone.transport;

import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.unix.Errors;
import io.netty.util.concurrent.EventExecutor;
import java.time.Duration;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a server's listening sockets do when {@code accept} fails — above all with {@code EMFILE}
 * or {@code ENFILE}, when the process or the system has no descriptor left.
 *
 * <p>Why not Netty's default: {@code ServerBootstrap}'s acceptor pauses the failing listener for
 * one second and passes the exception on, where the pipeline's tail logs it at WARN; at the
 * descriptor limit that is a warning per listener per second for as long as it lasts, and a
 * one-second stall after every single failure. Here a failing listener pauses (auto-read off) for
 * 50 ms, doubling per consecutive failure up to 1 s, and resumes by itself; its next successful
 * accept resets the delay. (Pausing matters: the connection the kernel could not hand over stays
 * in the backlog, so the socket stays readable and a level-triggered loop would retry at once.)
 *
 * <p>Logging is per episode, for all listeners of one owner together: one WARN when accepts start
 * failing, then nothing until no accept has failed for {@link #QUIET}, then one INFO line with how
 * many failed, on how many listeners, for how long. Counts by error are kept for metrics
 * ({@link #failures}).
 *
 * <p>Threading: each listener's handler runs on its channel's event loop; the episode state is
 * shared between loops and kept in atomics. Time comes from the event loop's ticker.
 */
public final class AcceptBackoff {
  private static final Logger log = LoggerFactory.getLogger(AcceptBackoff.class);

  static final Duration INITIAL_DELAY = Duration.ofMillis(50);
  static final Duration MAX_DELAY = Duration.ofSeconds(1);
  /** An episode ends when no accept has failed for this long. */
  static final Duration QUIET = Duration.ofSeconds(2);

  /** Why an accept failed, as a metric label. */
  public enum Error {
    /** {@code EMFILE}: this process reached its descriptor limit. */
    EMFILE("this process has used all the descriptors it may open"),
    /** {@code ENFILE}: the system-wide file table is full. */
    ENFILE("the system's file table is full"),
    /** Anything else (e.g. {@code ENOBUFS}, {@code ENOMEM}). */
    OTHER("accept failed");

    private final String meaning;

    Error(String meaning) {
      this.meaning = meaning;
    }

    public String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  private final String owner;
  private final LongAdder[] failures = new LongAdder[Error.values().length];
  private final AtomicBoolean inEpisode = new AtomicBoolean();
  private final AtomicLong episodeFailures = new AtomicLong();
  private final Set<String> episodeListeners = ConcurrentHashMap.newKeySet();
  private volatile long episodeStartNanos;
  private volatile long lastFailureNanos;
  private volatile Error episodeError = Error.OTHER;

  /** {@code owner} names the server in log lines (e.g. {@code ztunnel node-a}). */
  public AcceptBackoff(String owner) {
    this.owner = owner;
    for (int i = 0; i < failures.length; i++) {
      failures[i] = new LongAdder();
    }
  }

  /**
   * A new handler for one listening socket's pipeline ({@code ServerBootstrap.handler}), named
   * {@code listener} in log lines (e.g. {@code 10.0.0.5:15080 (production/app-0 socks5)}).
   */
  public ChannelHandler handler(String listener) {
    return new ListenerHandler(listener);
  }

  /** Accepts that failed with {@code error} so far, over all listeners. */
  public long failures(Error error) {
    return failures[error.ordinal()].sum();
  }

  /** Whether accepts are failing now (an episode is open). */
  public boolean failing() {
    return inEpisode.get();
  }

  static Error classify(Throwable cause) {
    for (Throwable c = cause; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (c instanceof Errors.NativeIoException n) {
        if (n.expectedErr() == -24) {
          return Error.EMFILE;
        }
        if (n.expectedErr() == -23) {
          return Error.ENFILE;
        }
      }
      String m = c.getMessage();
      if (m != null && m.contains("Too many open files in system")) {
        return Error.ENFILE;
      }
      if (m != null && m.contains("Too many open files")) {
        return Error.EMFILE;
      }
    }
    return Error.OTHER;
  }

  private void failed(Throwable cause, String listener, EventExecutor loop) {
    Error error = classify(cause);
    failures[error.ordinal()].increment();
    long now = loop.ticker().nanoTime();
    lastFailureNanos = now;
    episodeFailures.incrementAndGet();
    episodeListeners.add(listener);
    if (inEpisode.compareAndSet(false, true)) {
      episodeStartNanos = now;
      episodeError = error;
      log.warn("{}: accept failed on {}: {} — {} (its open-file limit is {}); pausing the failing"
              + " listeners ({} ms, doubling up to {} ms), they resume by themselves; further"
              + " failures are counted, not logged, until accepts work again", owner, listener,
          cause.getMessage(), error.meaning, Descriptors.limit(), INITIAL_DELAY.toMillis(),
          MAX_DELAY.toMillis());
      loop.schedule(() -> checkEpisodeOver(loop), QUIET.toNanos(), TimeUnit.NANOSECONDS);
    }
  }

  private void checkEpisodeOver(EventExecutor loop) {
    long now = loop.ticker().nanoTime();
    long quietFor = now - lastFailureNanos;
    if (quietFor < QUIET.toNanos()) {
      loop.schedule(() -> checkEpisodeOver(loop), QUIET.toNanos() - quietFor,
          TimeUnit.NANOSECONDS);
      return;
    }
    long count = episodeFailures.getAndSet(0);
    int listeners = episodeListeners.size();
    episodeListeners.clear();
    long lastedMillis = TimeUnit.NANOSECONDS.toMillis(lastFailureNanos - episodeStartNanos);
    inEpisode.set(false);
    log.info("{}: accepting again: {} accepts failed ({}) on {} listener(s) over {} ms", owner,
        count, episodeError.label(), listeners, lastedMillis);
  }

  /** One listening socket's pause-and-resume; confined to its event loop. */
  private final class ListenerHandler extends ChannelInboundHandlerAdapter {
    private final String listener;
    private int consecutiveFailures;
    private boolean paused;

    ListenerHandler(String listener) {
      this.listener = listener;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object acceptedChild) {
      consecutiveFailures = 0;
      ctx.fireChannelRead(acceptedChild);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      // Not passed on: the acceptor after us would pause for another second and the pipeline's
      // tail would log every failure at WARN.
      failed(cause, listener, ctx.executor());
      if (paused) {
        return;
      }
      paused = true;
      long delay = Math.min(INITIAL_DELAY.toNanos() << Math.min(consecutiveFailures, 16),
          MAX_DELAY.toNanos());
      consecutiveFailures++;
      ctx.channel().config().setAutoRead(false);
      ctx.executor().schedule(() -> {
        paused = false;
        if (ctx.channel().isOpen()) {
          ctx.channel().config().setAutoRead(true);
        }
      }, delay, TimeUnit.NANOSECONDS);
    }
  }
}
