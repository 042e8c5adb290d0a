package dev.ambientj.config.ca;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.event.Level;

/**
 * One log line per refused caller or connection, at most {@link #LINES_PER_WINDOW} per {@link
 * #WINDOW_SECONDS}-second window, so that a flood of bad calls cannot flood the log: what is over
 * the budget is counted and said in the next line written ({@code "(N more like it not logged; M
 * in all)"}). {@link #total()} counts every refusal, logged or not.
 *
 * <p>Thread-safe and lock-free: called from gRPC's executor and from event loops.
 */
public final class RefusalLog {
  static final int LINES_PER_WINDOW = 10;
  static final long WINDOW_SECONDS = 10;

  /** The current window: when it started, lines written in it, refusals not written since. */
  private record Window(long startNanos, int written, long suppressed) {}

  private final Logger log;
  private final Level level;
  private final AtomicReference<Window> window;
  private final AtomicLong total = new AtomicLong();
  private final java.util.function.LongSupplier clock;

  /** Writes at INFO: a refusal is the server working as configured. */
  public RefusalLog(Logger log) {
    this(log, Level.INFO, System::nanoTime);
  }

  public RefusalLog(Logger log, Level level) {
    this(log, level, System::nanoTime);
  }

  RefusalLog(Logger log, Level level, java.util.function.LongSupplier nanoClock) {
    this.log = log;
    this.level = level;
    this.clock = nanoClock;
    this.window = new AtomicReference<>(new Window(nanoClock.getAsLong(), 0, 0));
  }

  /** Logs {@code message} unless this window's budget is spent; counts it either way. */
  public void refused(String message) {
    total.incrementAndGet();
    long now = clock.getAsLong();
    while (true) {
      Window w = window.get();
      Window next;
      long owed;
      if (now - w.startNanos() >= TimeUnit.SECONDS.toNanos(WINDOW_SECONDS)) {
        next = new Window(now, 1, 0);
        owed = w.suppressed();
      } else if (w.written() < LINES_PER_WINDOW) {
        next = new Window(w.startNanos(), w.written() + 1, 0);
        owed = w.suppressed();
      } else {
        next = new Window(w.startNanos(), w.written(), w.suppressed() + 1);
        owed = -1;
      }
      if (window.compareAndSet(w, next)) {
        if (owed > 0) {
          log.atLevel(level).log("{} ({} more like it not logged; {} in all)",
              message, owed, total.get());
        } else if (owed == 0) {
          log.atLevel(level).log(message);
        }
        return;
      }
    }
  }

  /** Every refusal since start, written or not. */
  public long total() {
    return total.get();
  }
}
