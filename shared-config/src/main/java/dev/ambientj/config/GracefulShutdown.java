package dev.ambientj.config;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * SIGTERM (or SIGINT) as a kubelet sends it: the process drains, and the JVM does not exit before
 * the drain is done.
 *
 * <p>The JVM runs shutdown hooks on a signal and halts as soon as they return. So the hook this
 * installs only lets the main thread go ({@link #awaitSignal()} returns) and then waits until the
 * main thread says it has finished ({@link #finished()}) — bounded by {@code maxWait}, so that a
 * drain that hangs cannot keep the process alive past the kubelet's SIGKILL anyway. The main
 * thread must not call {@code System.exit} after a signal (that blocks while hooks run): it
 * returns and the JVM exits when the hook does, with status 143 (128 + SIGTERM).
 *
 * <p>{@link #drainDeadline} turns the pod's {@code terminationGracePeriodSeconds}, given to the
 * container as {@value #GRACE_ENV}, into a drain deadline the way Istio does: 5 s less than the
 * grace period, so that connections are ended before the kubelet's SIGKILL.
 */
public final class GracefulShutdown {
  /** The pod's termination grace period in seconds, as the manifests pass it. */
  public static final String GRACE_ENV = "TERMINATION_GRACE_PERIOD_SECONDS";

  /** The one installed in this process, until it finished: what {@link #requestDrain} starts. */
  private static final java.util.concurrent.atomic.AtomicReference<GracefulShutdown> INSTALLED =
      new java.util.concurrent.atomic.AtomicReference<>();

  private final CountDownLatch signalled = new CountDownLatch(1);
  private volatile boolean requested;
  private final CountDownLatch finished = new CountDownLatch(1);
  private final Thread hook;

  private GracefulShutdown(String process, Duration maxWait) {
    this.hook = new Thread(() -> {
      signalled.countDown();
      try {
        finished.await(maxWait.toMillis(), TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, process + "-shutdown");
  }

  /**
   * Installs the hook. {@code maxWait} bounds how long the JVM waits for {@link #finished()} after
   * the signal: the drain deadline plus whatever the drain's last steps need.
   */
  public static GracefulShutdown install(String process, Duration maxWait) {
    GracefulShutdown s = new GracefulShutdown(process, maxWait);
    Runtime.getRuntime().addShutdownHook(s.hook);
    INSTALLED.set(s);
    return s;
  }

  /** Blocks until SIGTERM/SIGINT (the JVM's shutdown has begun). */
  public void awaitSignal() throws InterruptedException {
    signalled.await();
  }

  /**
   * Starts the same drain as SIGTERM without a signal (the admin's {@code POST /quitquitquit}):
   * {@link #awaitSignal()} returns, the process drains and exits 0. False when no process-level
   * shutdown is installed here (a proxy embedded in a test or the demo): the caller drains what
   * it owns itself.
   */
  public static boolean requestDrain() {
    GracefulShutdown s = INSTALLED.get();
    if (s == null) {
      return false;
    }
    s.requested = true;
    s.signalled.countDown();
    return true;
  }

  /** Whether the signal came (not a {@link #requestDrain()}: then the JVM is not exiting yet). */
  public boolean signalled() {
    return signalled.getCount() == 0 && !requested;
  }

  /**
   * The drain is done (or the process is leaving for another reason): the hook returns and the
   * JVM exits. Also removes the hook when no signal came, so that a normal return does not wait.
   */
  public void finished() {
    INSTALLED.compareAndSet(this, null);
    finished.countDown();
    if (!signalled()) {
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException e) {
        // shutdown began meanwhile: the hook returns at once
      }
    }
  }

  /**
   * The drain deadline for a grace period of {@code graceSeconds} ({@value #GRACE_ENV}): 5 s less,
   * half of it when it is 5 s or less; {@code fallback} when unset. An unparsable or non-positive
   * value is reported on stderr and the fallback kept.
   */
  public static Duration drainDeadline(String graceSeconds, Duration fallback) {
    if (graceSeconds == null || graceSeconds.isBlank()) {
      return fallback;
    }
    long grace;
    try {
      grace = Long.parseLong(graceSeconds.strip());
    } catch (NumberFormatException e) {
      grace = -1;
    }
    if (grace <= 0) {
      System.err.println("warning: " + GRACE_ENV + "='" + graceSeconds + "' is not a positive"
          + " number of seconds; the drain deadline stays " + fallback.toMillis() / 1000.0 + " s");
      return fallback;
    }
    return grace > 5 ? Duration.ofSeconds(grace - 5) : Duration.ofMillis(grace * 500);
  }

  /** {@link #drainDeadline(String, Duration)} of this process's {@value #GRACE_ENV}. */
  public static Duration drainDeadline(Duration fallback) {
    return drainDeadline(System.getenv(GRACE_ENV), fallback);
  }
}
