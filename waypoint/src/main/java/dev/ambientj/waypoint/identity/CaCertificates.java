package dev.ambientj.waypoint.identity;

import dev.ambientj.config.ca.CaClient;
import dev.ambientj.config.ca.CsrFactory;
import dev.ambientj.hbone.identity.IdentityProvider;
import dev.ambientj.hbone.identity.Pem;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.hbone.identity.TrustBundle;
import dev.ambientj.hbone.identity.WorkloadCertificate;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The waypoint's certificate from the config server's CA (istiod's role in Istio): one EC P-256
 * key and CSR for the waypoint's own identity, sent with {@code ImpersonatedIdentity} set to that
 * same identity (which a service-account caller may always ask for, and a node-token caller may
 * when the waypoint pod runs on its node).
 *
 * <p>Invariants: at most one fetch in flight per identity; the current certificate is served until
 * its successor arrives (renewal at half-life, counted from receipt as ztunnel's manager does);
 * a failed fetch is retried with jittered exponential backoff from 1 s up to 150 s, forever.
 * {@link #fetchCertificate} never blocks: one volatile read when a valid certificate is held.
 *
 * <p>Threading: fetches start and results land on one daemon timer thread; key generation runs
 * there too (never on an event loop). The waypoint has one identity, so this is far smaller than
 * ztunnel's per-node certificate manager.
 */
public final class CaCertificates implements IdentityProvider, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(CaCertificates.class);
  static final Duration INITIAL_BACKOFF = Duration.ofSeconds(1);
  static final Duration MAX_BACKOFF = Duration.ofSeconds(150);

  private final CaClient client;
  private final Duration validity;
  private final Clock clock = Clock.systemUTC();
  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(
      Thread.ofPlatform().daemon().name("waypoint-certificates").factory());
  private final Map<SpiffeId, Held> held = new ConcurrentHashMap<>();

  /** Per identity; {@code failures} is touched on the timer thread only. */
  private static final class Held {
    volatile WorkloadCertificate current;
    volatile CompletableFuture<WorkloadCertificate> waiting = new CompletableFuture<>();
    int failures;
  }

  /** @param validity the lifetime to ask for */
  public CaCertificates(CaClient client, Duration validity) {
    this.client = client;
    this.validity = validity;
  }

  @Override
  public CompletableFuture<WorkloadCertificate> fetchCertificate(SpiffeId id) {
    Held h = held.computeIfAbsent(id, k -> {
      Held n = new Held();
      timer.execute(() -> fetch(k, n));
      return n;
    });
    WorkloadCertificate c = h.current;
    if (valid(c)) {
      return CompletableFuture.completedFuture(c);
    }
    CompletableFuture<WorkloadCertificate> w = h.waiting;
    c = h.current; // a fetch may have completed between the two reads
    return valid(c) ? CompletableFuture.completedFuture(c) : w;
  }

  private boolean valid(WorkloadCertificate c) {
    return c != null && clock.instant().isBefore(c.notAfter());
  }

  /** On the timer thread. */
  private void fetch(SpiffeId id, Held h) {
    CompletableFuture<WorkloadCertificate> f;
    try {
      CsrFactory.Generated csr = CsrFactory.create(id.toString());
      f = client.fetchCertificate(csr.csrPem(), validity, id.toString()).thenApply(pem -> {
        List<X509Certificate> chain = Pem.parseCertificates(String.join("\n", pem));
        X509Certificate root = chain.get(chain.size() - 1);
        List<X509Certificate> presented = chain.size() > 1 ? chain.subList(0, chain.size() - 1) : chain;
        return new WorkloadCertificate(id, presented, csr.keyPair().getPrivate(), TrustBundle.of(root));
      });
    } catch (RuntimeException e) {
      f = CompletableFuture.failedFuture(e);
    }
    f.whenComplete((cert, err) -> {
      try {
        timer.execute(() -> onResult(id, h, cert, err));
      } catch (java.util.concurrent.RejectedExecutionException closed) {
        // closing
      }
    });
  }

  /** On the timer thread. */
  private void onResult(SpiffeId id, Held h, WorkloadCertificate cert, Throwable err) {
    Instant now = clock.instant();
    if (err != null || cert == null || !now.isBefore(cert.notAfter())) {
      h.failures++;
      long base = Math.min(INITIAL_BACKOFF.toMillis() << Math.min(h.failures - 1, 20),
          MAX_BACKOFF.toMillis());
      long delay = (long) (base * (0.5 + 0.5 * ThreadLocalRandom.current().nextDouble()));
      log.warn("certificate for {} failed (attempt {}), retrying in {} ms: {}", id, h.failures,
          delay, err == null ? "no valid certificate" : rootMessage(err));
      timer.schedule(() -> fetch(id, h), delay, TimeUnit.MILLISECONDS);
      return;
    }
    h.failures = 0;
    h.current = cert;
    CompletableFuture<WorkloadCertificate> w = h.waiting;
    h.waiting = new CompletableFuture<>();
    w.complete(cert);
    Instant from = cert.notBefore().isAfter(now) ? cert.notBefore() : now;
    Duration renewIn = Duration.between(now, from.plus(Duration.between(from, cert.notAfter()).dividedBy(2)));
    log.info("certificate for {} valid until {}; renewing in {} s", id, cert.notAfter(), renewIn.toSeconds());
    timer.schedule(() -> fetch(id, h), Math.max(0, renewIn.toMillis()), TimeUnit.MILLISECONDS);
  }

  private static String rootMessage(Throwable t) {
    Throwable c = t;
    while (c instanceof java.util.concurrent.CompletionException && c.getCause() != null) {
      c = c.getCause();
    }
    return c.getMessage() == null ? c.toString() : c.getMessage();
  }

  @Override
  public void close() {
    timer.shutdownNow();
  }
}
