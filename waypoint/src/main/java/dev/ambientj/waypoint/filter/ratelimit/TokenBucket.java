package dev.ambientj.waypoint.filter.ratelimit;

import dev.ambientj.waypoint.Ticker;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Envoy's local rate limit token bucket: starts full with {@code maxTokens}; every
 * {@code fillInterval} (a discrete tick, not a continuous rate) {@code tokensPerFill} tokens are
 * added, up to {@code maxTokens}; a request takes one token or is limited.
 *
 * <p>Ticks are computed lazily from the injected {@link Ticker} on each call. Thread-safe and
 * lock-free (one CAS on an immutable state per request).
 */
public final class TokenBucket {
  private record State(long tokens, long lastFill) {}

  /** The outcome of one request. */
  public record Decision(boolean allowed, long limit, long remaining, long nanosToNextFill) {
    /** Whole seconds until the next fill, at least 1 (for {@code Retry-After} / {@code x-ratelimit-reset}). */
    public long secondsToNextFill() {
      return Math.max(1, (nanosToNextFill + 999_999_999L) / 1_000_000_000L);
    }
  }

  private final long maxTokens;
  private final long tokensPerFill;
  private final long fillNanos;
  private final Ticker ticker;
  private final AtomicReference<State> state;

  public TokenBucket(long maxTokens, long tokensPerFill, Duration fillInterval, Ticker ticker) {
    if (maxTokens < 1 || tokensPerFill < 1 || fillInterval.isZero() || fillInterval.isNegative()) {
      throw new IllegalArgumentException("maxTokens, tokensPerFill and fillInterval must be positive");
    }
    this.maxTokens = maxTokens;
    this.tokensPerFill = tokensPerFill;
    this.fillNanos = fillInterval.toNanos();
    this.ticker = ticker;
    this.state = new AtomicReference<>(new State(maxTokens, ticker.nanoTime()));
  }

  public long maxTokens() {
    return maxTokens;
  }

  public Decision tryAcquire() {
    while (true) {
      long now = ticker.nanoTime();
      State s = state.get();
      long fills = (now - s.lastFill) / fillNanos;
      long tokens = s.tokens;
      long lastFill = s.lastFill;
      if (fills > 0) {
        tokens = Math.min(maxTokens, tokens + Math.min(fills, maxTokens) * tokensPerFill);
        lastFill = s.lastFill + fills * fillNanos;
      }
      long toNext = lastFill + fillNanos - now;
      if (tokens <= 0) {
        if (fills > 0 && !state.compareAndSet(s, new State(tokens, lastFill))) {
          continue;
        }
        return new Decision(false, maxTokens, 0, toNext);
      }
      if (state.compareAndSet(s, new State(tokens - 1, lastFill))) {
        return new Decision(true, maxTokens, tokens - 1, toNext);
      }
    }
  }
}
