package dev.ambientj.waypoint.filter.ratelimit;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class TokenBucketTest {
  @Test
  void seedBucketHundredPerMinute() {
    AtomicLong now = new AtomicLong(1_000);
    TokenBucket b = new TokenBucket(100, 100, Duration.ofSeconds(60), now::get);
    for (int i = 0; i < 100; i++) {
      TokenBucket.Decision d = b.tryAcquire();
      assertThat(d.allowed()).isTrue();
      assertThat(d.remaining()).isEqualTo(99 - i);
    }
    now.addAndGet(Duration.ofSeconds(20).toNanos());
    TokenBucket.Decision limited = b.tryAcquire();
    assertThat(limited.allowed()).isFalse();
    assertThat(limited.secondsToNextFill()).as("Retry-After").isEqualTo(40);
    now.addAndGet(Duration.ofSeconds(40).toNanos());
    assertThat(b.tryAcquire().allowed()).as("refilled at the tick").isTrue();
  }

  @Test
  void fillsAreDiscreteAndCapped() {
    AtomicLong now = new AtomicLong(0);
    TokenBucket b = new TokenBucket(5, 2, Duration.ofSeconds(1), now::get);
    for (int i = 0; i < 5; i++) {
      assertThat(b.tryAcquire().allowed()).isTrue();
    }
    assertThat(b.tryAcquire().allowed()).isFalse();
    now.addAndGet(999_000_000L);
    assertThat(b.tryAcquire().allowed()).as("no fill before the interval").isFalse();
    now.addAndGet(1_000_000L);
    assertThat(b.tryAcquire().allowed()).isTrue();
    assertThat(b.tryAcquire().allowed()).isTrue();
    assertThat(b.tryAcquire().allowed()).isFalse();
    now.addAndGet(Duration.ofSeconds(100).toNanos());
    int got = 0;
    while (b.tryAcquire().allowed()) {
      got++;
    }
    assertThat(got).as("capped at max_tokens").isEqualTo(5);
  }
}
