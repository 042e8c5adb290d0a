package dev.ambientj.waypoint;

import io.netty.util.concurrent.EventExecutor;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * The waypoint's shutdown drain (issue 16): what is in progress on the downstream side when the
 * waypoint stops, and how each piece ends.
 *
 * <p><b>Sequence</b> ({@link #drain}): every member is told that the drain started — an HTTP/1.1
 * connection answers its next response with {@code Connection: close}, an HTTP/2 connection gets
 * GOAWAY — and requests, responses and relayed connections in progress go on. When none is left,
 * or at the deadline, every member is ended: what still runs is ended with the response flag
 * {@code DT} and its own access-log line (a response not started yet gets {@code 503}; a started
 * one is reset, so the client sees it cut, never a complete {@code 200}), idle keep-alive
 * connections are ended in order. The HBONE listener is closed by the caller before the drain.
 *
 * <p><b>Threading:</b> members live on their channels' event loops; {@link #drain} runs on the
 * thread that stops the waypoint (never an event loop) and waits there, polling the members'
 * {@link Member#busy()} flags.
 */
final class DownstreamDrain {
  /** How often the draining thread looks at the members. */
  private static final long POLL_MILLIS = 20;

  /** Something on a downstream connection that the drain must reach. */
  interface Member {
    /** The event loop the member's methods run on. */
    EventExecutor executor();

    /** The drain started (on the member's loop; may be called twice). */
    void drainStarted();

    /** Whether a request, response or relayed connection is in progress; read from any thread. */
    boolean busy();

    /** The drain is over (on the member's loop): end what is left, flagged, and close in order. */
    void endForShutdown();
  }

  private final Set<Member> members = ConcurrentHashMap.newKeySet();
  private volatile boolean draining;

  /** Tracks {@code m} until {@link #remove}; told at once when a drain is already running. */
  void add(Member m) {
    members.add(m);
    if (draining) {
      run(m, m::drainStarted);
    }
  }

  void remove(Member m) {
    members.remove(m);
  }

  /** Whether the waypoint is shutting down (one volatile read; per response on HTTP/1.1). */
  boolean draining() {
    return draining;
  }

  /** Members with work in progress. */
  int busy() {
    int n = 0;
    for (Member m : members) {
      if (m.busy()) {
        n++;
      }
    }
    return n;
  }

  /**
   * Drains: see the class comment. Returns once every member is gone, or {@code closeGrace} after
   * the members were ended. Blocks the calling thread, which must not be an event loop.
   *
   * @return how many members were still busy when the deadline ended them
   */
  int drain(Duration deadline, Duration closeGrace) throws InterruptedException {
    draining = true;
    for (Member m : members) {
      run(m, m::drainStarted);
    }
    long end = System.nanoTime() + deadline.toNanos();
    while (System.nanoTime() < end && busy() > 0) {
      TimeUnit.MILLISECONDS.sleep(POLL_MILLIS);
    }
    int cut = busy();
    for (Member m : members) {
      run(m, m::endForShutdown);
    }
    long closed = System.nanoTime() + closeGrace.toNanos();
    while (!members.isEmpty() && System.nanoTime() < closed) {
      TimeUnit.MILLISECONDS.sleep(POLL_MILLIS);
    }
    return cut;
  }

  private void run(Member m, Runnable task) {
    try {
      m.executor().execute(task);
    } catch (RejectedExecutionException e) {
      members.remove(m); // its loop is gone, and its channel with it
    }
  }
}
