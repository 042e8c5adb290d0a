package dev.ambientj.config.kubernetes;

import java.time.Duration;
import java.util.function.LongSupplier;
import org.slf4j.Logger;

/**
 * One line per outage: the first failed attempt of an episode is logged (WARN, with the reason
 * and what the process does meanwhile), the following ones only counted — with a reminder every
 * {@link #REMIND_EVERY} — and the first success after them ends the episode with one INFO line
 * saying how long after the first failure it came back. No stack traces: the reason is the innermost message.
 *
 * <p>Threading: not thread-safe; each user calls it from one thread (or one at a time).
 */
public final class ApiOutage {
  static final Duration REMIND_EVERY = Duration.ofMinutes(5);

  private final Logger log;
  private final String subject;
  private final String meanwhile;
  private final LongSupplier clock;
  private boolean ongoing;
  private long sinceNanos;
  private long lastLoggedNanos;
  private int failures;
  private int episodes;

  /**
   * @param subject what is unavailable, e.g. "Kubernetes API at https://10.96.0.1:443"
   * @param meanwhile what the process does until it is back, e.g. "not ready until every kind is
   *     listed"
   */
  public ApiOutage(Logger log, String subject, String meanwhile) {
    this(log, subject, meanwhile, System::nanoTime);
  }

  ApiOutage(Logger log, String subject, String meanwhile, LongSupplier clock) {
    this.log = log;
    this.subject = subject;
    this.meanwhile = meanwhile;
    this.clock = clock;
  }

  /** Counts a failed attempt; logs it when it opens an episode (or a reminder is due). */
  public void failed(String reason) {
    long now = clock.getAsLong();
    failures++;
    if (!ongoing) {
      ongoing = true;
      episodes++;
      sinceNanos = now;
      lastLoggedNanos = now;
      failures = 1;
      log.warn("{} unavailable: {}; retrying with back-off{}", subject, reason,
          meanwhile.isEmpty() ? "" : "; " + meanwhile);
    } else if (now - lastLoggedNanos >= REMIND_EVERY.toNanos()) {
      lastLoggedNanos = now;
      log.warn("{} still unavailable after {} s ({} failed attempts): {}", subject,
          seconds(now - sinceNanos), failures, reason);
    }
  }

  /** Ends the episode, if one is open, with one line. */
  public void recovered() {
    if (!ongoing) {
      return;
    }
    ongoing = false;
    log.info("{} is back, {} s after the first failed call ({} failed attempts)", subject,
        seconds(clock.getAsLong() - sinceNanos), failures);
  }

  public boolean ongoing() {
    return ongoing;
  }

  /** How many episodes began (tests). */
  int episodes() {
    return episodes;
  }

  private static String seconds(long nanos) {
    return String.format(java.util.Locale.ROOT, "%.1f", nanos / 1e9);
  }
}
