package dev.ambientj.hbone.identity;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.DoubleSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The proxies' certificate manager: one key and certificate per identity (service account, not
 * pod) — ztunnel's local identities, or the waypoint's own — from a {@link CertificateSource},
 * normally the config server's CA (an EC P-256 key and CSR per identity, sent with
 * {@code ImpersonatedIdentity}, ISTIO-FACTS §7).
 *
 * <p>Invariants:
 * <ul>
 *   <li>an identity has at most one fetch in flight; its entry lives in a map until
 *       {@link #retainOnly} forgets it (the last local workload of that identity left), which also
 *       cancels its pending renewal or retry;
 *   <li>a certificate is renewed at half-life ({@link #halfLife}); the
 *       current one is served until the new one arrives, so live connections are never touched and
 *       new handshakes pick up the new one (hbone rebuilds its SslContext when the certificate
 *       object changes);
 *   <li>a failed fetch is retried with jittered exponential backoff (1 s, 2 s, 4 s … capped at
 *       {@link #MAX_BACKOFF}, each delay drawn from [d/2, d]), forever, until forgotten; when any
 *       identity's fetch succeeds again, the others waiting for a retry are fetched at once, so
 *       that every certificate is back within one backoff interval of the CA's return;
 *   <li>an identity without a valid certificate whose last fetch failed is <em>unavailable</em>:
 *       {@link #fetchCertificate} fails at once with a {@link CertificateUnavailableException}
 *       naming the identity and the CA's error, rather than keeping callers waiting for a retry —
 *       a connection that needs it is refused now, and readiness says so;
 *   <li>an outage of the CA is logged once when the first fetch fails and once when fetches
 *       succeed again, not at every retry;
 *   <li>at most {@link #MAX_CONCURRENT_FETCHES} fetches run at once, the rest wait in order;
 *   <li>{@link #fetchCertificate} never blocks: the fast path reads one volatile field; callers
 *       without a valid certificate get a future completed by the next successful fetch.
 * </ul>
 *
 * <p>Threading: every state change runs on the {@link Scheduler}'s single thread; results from the
 * source hop onto it.
 */
public final class CertificateManager implements IdentityProvider, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(CertificateManager.class);

  /**
   * The cap on the retry interval: certificates are back within about this long of the CA's
   * return (ztunnel's is 150 s; ours keeps a node's few identities close to the CA).
   */
  public static final Duration MAX_BACKOFF = Duration.ofSeconds(10);
  static final Duration INITIAL_BACKOFF = Duration.ofSeconds(1);
  /** Fetches in flight at once; more wait in arrival order (ztunnel also limits concurrency). */
  static final int MAX_CONCURRENT_FETCHES = 8;

  /** Where certificates come from. */
  @FunctionalInterface
  public interface CertificateSource {
    /** Fetches a fresh certificate for {@code id}; must not block. */
    CompletableFuture<WorkloadCertificate> fetch(SpiffeId id);
  }

  /** A single-threaded timer (injectable: tests use a fake one with a fake clock). */
  public interface Scheduler extends Executor, AutoCloseable {
    /** Runs {@code task} after {@code delay}; the returned handle cancels it. */
    Runnable schedule(Runnable task, Duration delay);

    @Override
    default void close() {}

    /** A daemon thread. */
    static Scheduler singleThread(String name) {
      ScheduledExecutorService s = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
      });
      return new Scheduler() {
        @Override
        public Runnable schedule(Runnable task, Duration delay) {
          ScheduledFuture<?> f = s.schedule(task, Math.max(0, delay.toMillis()),
              TimeUnit.MILLISECONDS);
          return () -> f.cancel(false);
        }

        @Override
        public void execute(Runnable command) {
          s.execute(command);
        }

        @Override
        public void close() {
          s.shutdownNow();
        }
      };
    }
  }

  private final CertificateSource source;
  private final Scheduler scheduler;
  private final Clock clock;
  private final DoubleSupplier random;
  private final ConcurrentMap<SpiffeId, Entry> entries = new ConcurrentHashMap<>();
  private final java.util.ArrayDeque<Entry> queued = new java.util.ArrayDeque<>(); // scheduler thread
  private int inFlight; // scheduler thread
  /** When fetches started failing (scheduler thread); null while the CA answers. */
  private Instant failingSince;

  /** Per identity; mutable fields are written on the scheduler thread only. */
  private static final class Entry {
    final SpiffeId id;
    volatile WorkloadCertificate current;
    volatile CompletableFuture<WorkloadCertificate> waiting = new CompletableFuture<>();
    /** Why the last fetch failed, until one succeeds. */
    volatile CertificateUnavailableException unavailable;
    int failures;
    Runnable pending;
    boolean forgotten;
    long fetches;

    Entry(SpiffeId id) {
      this.id = id;
    }
  }

  public CertificateManager(CertificateSource source, Scheduler scheduler, Clock clock,
      DoubleSupplier random) {
    this.source = source;
    this.scheduler = scheduler;
    this.clock = clock;
    this.random = random;
  }

  /** A manager on its own timer thread, the system clock and thread-local randomness. */
  public static CertificateManager create(CertificateSource source) {
    return new CertificateManager(source, Scheduler.singleThread("mesh-certificates"),
        Clock.systemUTC(), () -> ThreadLocalRandom.current().nextDouble());
  }

  @Override
  public CompletableFuture<WorkloadCertificate> fetchCertificate(SpiffeId id) {
    Entry e = entries.computeIfAbsent(id, this::newEntry);
    WorkloadCertificate c = e.current;
    if (valid(c)) {
      return CompletableFuture.completedFuture(c);
    }
    CompletableFuture<WorkloadCertificate> w = e.waiting;
    c = e.current; // a fetch may have completed between the two reads
    if (valid(c)) {
      return CompletableFuture.completedFuture(c);
    }
    CertificateUnavailableException u = e.unavailable;
    return u != null ? CompletableFuture.failedFuture(u.at(c, clock.instant())) : w;
  }

  /**
   * An identity has no valid certificate and its last fetch failed: the message names the
   * identity, says whether the certificate expired, and gives the CA's error.
   */
  public static final class CertificateUnavailableException extends Exception {
    private final SpiffeId id;
    private final String reason;

    CertificateUnavailableException(SpiffeId id, String reason) {
      super("no certificate for " + id + ": " + reason, null, false, false);
      this.id = id;
      this.reason = reason;
    }

    public SpiffeId identity() {
      return id;
    }

    /** This failure as seen at {@code now} by a caller holding {@code expired} (or nothing). */
    CertificateUnavailableException at(WorkloadCertificate expired, Instant now) {
      return expired == null ? this : new CertificateUnavailableException(id, "the certificate"
          + " expired at " + expired.notAfter() + " and its renewal failed: " + reason);
    }
  }

  /** Forgets every identity not in {@code keep}: key, certificate and pending renewal or retry. */
  public void retainOnly(Set<SpiffeId> keep) {
    for (SpiffeId id : Set.copyOf(entries.keySet())) {
      if (!keep.contains(id)) {
        Entry e = entries.remove(id);
        if (e != null) {
          log.info("forgetting the certificate of {}: no local workload uses it", id);
          scheduler.execute(() -> {
            e.forgotten = true;
            if (e.pending != null) {
              e.pending.run();
              e.pending = null;
            }
          });
        }
      }
    }
  }

  /** Identities held now (for tests and the admin dump). */
  public Set<SpiffeId> identities() {
    return Set.copyOf(entries.keySet());
  }

  /** How many fetches were started for {@code id} (the first one and every renewal or retry). */
  public long fetchCount(SpiffeId id) {
    Entry e = entries.get(id);
    return e == null ? 0 : e.fetches;
  }

  @Override
  public void close() {
    scheduler.close();
  }

  private Entry newEntry(SpiffeId id) {
    Entry e = new Entry(id);
    scheduler.execute(() -> fetch(e));
    return e;
  }

  private boolean valid(WorkloadCertificate c) {
    return c != null && clock.instant().isBefore(c.notAfter());
  }

  /** On the scheduler thread. */
  private void fetch(Entry e) {
    if (e.forgotten) {
      return;
    }
    e.pending = null;
    if (inFlight >= MAX_CONCURRENT_FETCHES) {
      queued.add(e);
      return;
    }
    inFlight++;
    e.fetches++;
    CompletableFuture<WorkloadCertificate> f;
    try {
      f = source.fetch(e.id);
    } catch (RuntimeException ex) {
      f = CompletableFuture.failedFuture(ex);
    }
    f.whenComplete((cert, err) -> scheduler.execute(() -> onResult(e, cert, err)));
  }

  /** On the scheduler thread. */
  private void onResult(Entry e, WorkloadCertificate cert, Throwable err) {
    inFlight--;
    Entry next;
    while (inFlight < MAX_CONCURRENT_FETCHES && (next = queued.poll()) != null) {
      fetch(next); // a forgotten one is skipped and the next tried
    }
    if (e.forgotten) {
      return;
    }
    Instant now = clock.instant();
    if (err == null && cert != null && !now.isBefore(cert.notAfter())) {
      err = new IllegalStateException("the CA returned a certificate that expired at "
          + cert.notAfter());
    }
    if (err != null || cert == null) {
      e.failures++;
      Duration delay = backoff(e.failures, random.getAsDouble());
      String why = err == null ? "no certificate" : describe(err);
      if (failingSince == null) {
        failingSince = now;
        log.warn("cannot get certificates from the CA: {} (for {}); certificates in hand stay in"
            + " use, each identity is retried up to every {} s", why, e.id,
            MAX_BACKOFF.toSeconds());
      } else {
        log.debug("certificate for {} failed (attempt {}), retrying in {} ms: {}", e.id,
            e.failures, delay.toMillis(), why);
      }
      e.unavailable = new CertificateUnavailableException(e.id, "the CA failed (" + why
          + "); retrying in " + delay.toMillis() / 1000.0 + " s");
      if (!valid(e.current)) {
        // callers waiting for the first certificate (or a renewal past expiry) learn it now
        CompletableFuture<WorkloadCertificate> w = e.waiting;
        e.waiting = new CompletableFuture<>();
        w.completeExceptionally(e.unavailable);
      }
      e.pending = scheduler.schedule(() -> fetch(e), delay);
      return;
    }
    if (failingSince != null) {
      log.info("certificates from the CA again after {} s of failures: {} issued; fetching the"
          + " other identities waiting for a retry now", Duration.between(failingSince, now)
          .toSeconds(), e.id);
      failingSince = null;
      retryFailedNow();
    }
    e.failures = 0;
    e.unavailable = null;
    e.current = cert;
    CompletableFuture<WorkloadCertificate> w = e.waiting;
    e.waiting = new CompletableFuture<>();
    w.complete(cert);
    Duration renewIn = Duration.between(now, halfLife(cert, now));
    log.debug("certificate for {} valid until {}; renewing in {} ms", e.id, cert.notAfter(),
        renewIn.toMillis());
    e.pending = scheduler.schedule(() -> fetch(e), renewIn.isNegative() ? Duration.ZERO : renewIn);
  }

  /** On the scheduler thread: the CA answers again; identities waiting out a backoff go now. */
  private void retryFailedNow() {
    for (Entry other : entries.values()) {
      if (other.failures > 0 && other.pending != null && !other.forgotten) {
        other.pending.run(); // cancels the scheduled retry
        other.pending = null;
        fetch(other);
      }
    }
  }

  /**
   * Half of the lifetime, counted from {@code notBefore} or, when later, from when the certificate
   * was received. CAs backdate {@code notBefore} (ours and istiod's by a minute) against clock skew;
   * ztunnel's plain {@code notBefore + (notAfter − notBefore) / 2} then lands in the past for a
   * certificate shorter than two minutes, which would renew in a loop. For a 24 h certificate the
   * two differ by 30 s.
   */
  static Instant halfLife(WorkloadCertificate c, Instant received) {
    Instant from = c.notBefore().isAfter(received) ? c.notBefore() : received;
    return from.plus(Duration.between(from, c.notAfter()).dividedBy(2));
  }

  /** Attempt {@code n} (1-based): min(cap, 1 s · 2^(n−1)), scaled into [d/2, d] by {@code jitter}. */
  static Duration backoff(int n, double jitter) {
    long base = INITIAL_BACKOFF.toMillis() << Math.min(n - 1, 20);
    long capped = Math.min(base, MAX_BACKOFF.toMillis());
    return Duration.ofMillis((long) (capped * (0.5 + 0.5 * jitter)));
  }

  private static String describe(Throwable t) {
    Throwable c = t;
    while (c.getCause() != null && (c instanceof java.util.concurrent.CompletionException)) {
      c = c.getCause();
    }
    return c.getMessage() == null ? c.getClass().getSimpleName() : c.getMessage();
  }
}
