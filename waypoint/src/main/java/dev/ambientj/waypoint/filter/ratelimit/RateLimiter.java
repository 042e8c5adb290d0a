package dev.ambientj.waypoint.filter.ratelimit;

import dev.ambientj.config.model.LocalRateLimit;
import dev.ambientj.waypoint.Ticker;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The waypoint's local rate limits: one {@link TokenBucket} per EnvoyFilter
 * {@code local_ratelimit}, shared by every request to the services whose workloads the filter
 * selects. Buckets survive snapshot swaps as long as the filter's bucket settings are unchanged.
 */
public final class RateLimiter {
  private record Key(String namespace, String name, long max, long perFill, long fillNanos) {}

  private final Ticker ticker;
  private final Map<Key, TokenBucket> buckets = new ConcurrentHashMap<>();

  public RateLimiter(Ticker ticker) {
    this.ticker = ticker;
  }

  /** The bucket for {@code limit} (the same instance for the same settings). */
  public TokenBucket bucketFor(LocalRateLimit limit) {
    Key k = new Key(limit.namespace(), limit.name(), limit.maxTokens(), limit.tokensPerFill(),
        limit.fillInterval().toNanos());
    return buckets.computeIfAbsent(k,
        x -> new TokenBucket(limit.maxTokens(), limit.tokensPerFill(), limit.fillInterval(), ticker));
  }
}
