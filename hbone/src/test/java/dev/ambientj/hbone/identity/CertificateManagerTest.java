package dev.ambientj.hbone.identity;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class CertificateManagerTest {
  private static final SpiffeId ORDERS = SpiffeId.parse("spiffe://cluster.local/ns/production/sa/orders");
  private static final SpiffeId GATEWAY =
      SpiffeId.parse("spiffe://cluster.local/ns/production/sa/api-gateway");

  /** A fake clock and a timer that runs tasks when the test advances it. */
  static final class FakeTime extends Clock implements CertificateManager.Scheduler {
    Instant now = Instant.parse("2026-01-01T00:00:00Z");
    final List<Task> tasks = new ArrayList<>();

    record Task(Instant at, Runnable run, boolean[] cancelled) {}

    @Override
    public Runnable schedule(Runnable task, Duration delay) {
      Task t = new Task(now.plus(delay), task, new boolean[1]);
      tasks.add(t);
      return () -> t.cancelled()[0] = true;
    }

    @Override
    public void execute(Runnable command) {
      command.run();
    }

    /** The delay until the next live task. */
    Duration nextDelay() {
      return tasks.stream().filter(t -> !t.cancelled()[0]).map(t -> Duration.between(now, t.at()))
          .min(Duration::compareTo).orElseThrow();
    }

    int live() {
      return (int) tasks.stream().filter(t -> !t.cancelled()[0]).count();
    }

    void advance(Duration d) {
      now = now.plus(d);
      List<Task> due = tasks.stream().filter(t -> !t.at().isAfter(now) && !t.cancelled()[0]).toList();
      tasks.removeAll(due);
      due.forEach(t -> t.run().run());
    }

    @Override
    public Instant instant() {
      return now;
    }

    @Override
    public java.time.ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(java.time.ZoneId zone) {
      return this;
    }
  }

  private final FakeTime time = new FakeTime();
  private final LocalCertificateAuthority ca = LocalCertificateAuthority.create("cluster.local", time);

  @Test
  void cachesAndRenewsAtHalfLife() throws Exception {
    AtomicInteger issued = new AtomicInteger();
    CertificateManager m = new CertificateManager(id -> {
      issued.incrementAndGet();
      return CompletableFuture.completedFuture(ca.issue(id, Duration.ofHours(24)));
    }, time, time, () -> 0.5);

    WorkloadCertificate first = m.fetchCertificate(ORDERS).get();
    assertThat(m.fetchCertificate(ORDERS).get()).isSameAs(first);
    assertThat(issued).hasValue(1);
    assertThat(time.nextDelay()).as("half of 24 h, although the CA backdated notBefore")
        .isEqualTo(Duration.ofHours(12));

    time.advance(Duration.ofHours(12));
    WorkloadCertificate second = m.fetchCertificate(ORDERS).get();
    assertThat(second).isNotSameAs(first);
    assertThat(issued).hasValue(2);
    assertThat(time.nextDelay()).isEqualTo(Duration.ofHours(12));
  }

  @Test
  void failuresBackOffExponentiallyWithJitterAndKeepServingTheCurrentCertificate() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    boolean[] failing = {false};
    CertificateManager m = new CertificateManager(id -> {
      calls.incrementAndGet();
      return failing[0] ? CompletableFuture.failedFuture(new RuntimeException("CA down"))
          : CompletableFuture.completedFuture(ca.issue(id, Duration.ofHours(2)));
    }, time, time, () -> 1.0);
    WorkloadCertificate first = m.fetchCertificate(ORDERS).get();
    failing[0] = true;
    time.advance(Duration.ofHours(1)); // half-life: renewal fails
    assertThat(m.fetchCertificate(ORDERS).get()).as("still valid").isSameAs(first);
    List<Duration> delays = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      Duration d = time.nextDelay();
      delays.add(d);
      time.advance(d);
    }
    assertThat(delays.subList(0, 4)).containsExactly(Duration.ofSeconds(1), Duration.ofSeconds(2),
        Duration.ofSeconds(4), Duration.ofSeconds(8));
    assertThat(delays).allSatisfy(d -> assertThat(d).isLessThanOrEqualTo(Duration.ofSeconds(10)));
    assertThat(delays.get(9)).isEqualTo(Duration.ofSeconds(10));
    failing[0] = false;
    time.advance(time.nextDelay());
    WorkloadCertificate renewed = m.fetchCertificate(ORDERS).get();
    assertThat(renewed).isNotSameAs(first);
    assertThat(time.nextDelay()).as("back to half-life after success").isEqualTo(Duration.ofHours(1));
  }

  @Test
  void aShortLivedCertificateRenewsAtHalfOfWhatIsLeftNotInALoop() throws Exception {
    CertificateManager m = new CertificateManager(
        id -> CompletableFuture.completedFuture(ca.issue(id, Duration.ofSeconds(4))), time, time,
        () -> 0.5);
    m.fetchCertificate(ORDERS).get();
    assertThat(time.nextDelay()).isEqualTo(Duration.ofSeconds(2));
    time.advance(Duration.ofSeconds(2));
    assertThat(m.fetchCount(ORDERS)).isEqualTo(2);
    assertThat(time.nextDelay()).isEqualTo(Duration.ofSeconds(2));
  }

  @Test
  void limitsConcurrentFetches() {
    List<CompletableFuture<WorkloadCertificate>> started = new ArrayList<>();
    List<SpiffeId> ids = new ArrayList<>();
    CertificateManager m = new CertificateManager(id -> {
      CompletableFuture<WorkloadCertificate> f = new CompletableFuture<>();
      started.add(f);
      ids.add(id);
      return f;
    }, time, time, () -> 0.5);
    for (int i = 0; i < 10; i++) {
      m.fetchCertificate(new SpiffeId("cluster.local", "ns" + i, "sa"));
    }
    assertThat(started).hasSize(CertificateManager.MAX_CONCURRENT_FETCHES);
    started.get(0).complete(ca.issue(ids.get(0), Duration.ofHours(1)));
    assertThat(started).hasSize(CertificateManager.MAX_CONCURRENT_FETCHES + 1);
  }

  @Test
  void jitterDrawsFromTheUpperHalf() {
    assertThat(CertificateManager.backoff(3, 0.0)).isEqualTo(Duration.ofSeconds(2));
    assertThat(CertificateManager.backoff(3, 1.0)).isEqualTo(Duration.ofSeconds(4));
    assertThat(CertificateManager.backoff(40, 1.0)).isEqualTo(Duration.ofSeconds(10));
  }

  @Test
  void callersWithoutACertificateWaitForTheFirstFetch() {
    CompletableFuture<WorkloadCertificate> pending = new CompletableFuture<>();
    CertificateManager m = new CertificateManager(id -> pending, time, time, () -> 0.5);
    CompletableFuture<WorkloadCertificate> f = m.fetchCertificate(ORDERS);
    assertThat(f).isNotDone();
    pending.complete(ca.issue(ORDERS, Duration.ofHours(1)));
    assertThat(f).isCompleted();
  }

  @Test
  void withoutACertificateAFailedFetchFailsCallersAtOnceNamingTheIdentity() {
    boolean[] failing = {true};
    CertificateManager m = new CertificateManager(id -> failing[0]
        ? CompletableFuture.failedFuture(new RuntimeException("UNAVAILABLE: io exception"))
        : CompletableFuture.completedFuture(ca.issue(id, Duration.ofHours(1))), time, time,
        () -> 0.5);
    CompletableFuture<WorkloadCertificate> first = m.fetchCertificate(ORDERS);
    assertThat(first).isCompletedExceptionally();
    assertThat(m.fetchCertificate(ORDERS)).as("a later caller too, before the retry")
        .failsWithin(Duration.ZERO)
        .withThrowableOfType(java.util.concurrent.ExecutionException.class)
        .withMessageContaining("no certificate for " + ORDERS)
        .withMessageContaining("UNAVAILABLE: io exception");
    failing[0] = false;
    time.advance(time.nextDelay());
    assertThat(m.fetchCertificate(ORDERS)).isCompleted();
  }

  @Test
  void aCertificateThatExpiresWhileTheCaIsDownIsUnavailableAndSaysSo() {
    boolean[] failing = {false};
    CertificateManager m = new CertificateManager(id -> failing[0]
        ? CompletableFuture.failedFuture(new RuntimeException("CA down"))
        : CompletableFuture.completedFuture(ca.issue(id, Duration.ofMinutes(1))), time, time,
        () -> 1.0);
    assertThat(m.fetchCertificate(ORDERS)).isCompleted();
    failing[0] = true;
    for (int i = 0; i < 20; i++) { // the renewal at half-life and its retries fail
      time.advance(time.nextDelay());
    }
    assertThat(m.fetchCertificate(ORDERS)).failsWithin(Duration.ZERO)
        .withThrowableOfType(java.util.concurrent.ExecutionException.class)
        .withMessageContaining("no certificate for " + ORDERS)
        .withMessageContaining("expired at");
  }

  @Test
  void whenTheCaAnswersAgainEveryIdentityWaitingForARetryIsFetchedAtOnce() {
    boolean[] failing = {true};
    int[] draws = {0};
    CertificateManager m = new CertificateManager(id -> failing[0]
        ? CompletableFuture.failedFuture(new RuntimeException("CA down"))
        : CompletableFuture.completedFuture(ca.issue(id, Duration.ofHours(1))), time, time,
        () -> draws[0]++ % 2 == 0 ? 1.0 : 0.0); // the two identities' retries fall apart
    m.fetchCertificate(ORDERS);
    m.fetchCertificate(GATEWAY);
    for (int i = 0; i < 6; i++) { // both back off to the cap
      time.advance(time.nextDelay());
    }
    failing[0] = false;
    assertThat(time.live()).isEqualTo(2);
    time.advance(time.nextDelay()); // one retry succeeds: the other is not left to its timer
    assertThat(m.fetchCertificate(ORDERS)).isCompleted();
    assertThat(m.fetchCertificate(GATEWAY)).isCompleted();
    assertThat(time.tasks.stream().filter(t -> !t.cancelled()[0])
        .allMatch(t -> Duration.between(time.now, t.at()).toMinutes() >= 29))
        .as("only the renewals are left").isTrue();
  }

  @Test
  void forgetsAnIdentityAndItsPendingRenewal() throws Exception {
    CertificateManager m = new CertificateManager(
        id -> CompletableFuture.completedFuture(ca.issue(id, Duration.ofHours(1))), time, time,
        () -> 0.5);
    m.fetchCertificate(ORDERS).get();
    m.fetchCertificate(GATEWAY).get();
    assertThat(time.live()).isEqualTo(2);

    m.retainOnly(Set.of(GATEWAY));

    assertThat(m.identities()).containsExactly(GATEWAY);
    assertThat(time.live()).as("the orders renewal is cancelled").isEqualTo(1);
    assertThat(m.fetchCount(ORDERS)).isZero();
  }
}
