package dev.ambientj.testing;

/**
 * The checks a fuzz target makes around each input, beyond "nothing threw": Netty reported no
 * unhandled error ({@link UnhandledNettyErrors}), every buffer the input's channels allocated was
 * released ({@link TrackingAllocator}), and — every few thousand inputs while fuzzing, since it
 * needs a garbage collection — Netty's leak detector found nothing.
 *
 * <pre>{@code
 * FuzzInput.begin();
 * ... feed the input to the handler ...
 * FuzzInput.end("SOCKS5 input", allocator);
 * }</pre>
 */
public final class FuzzInput {

  /** Inputs between two garbage collections for the leak detector while fuzzing. */
  private static final int LEAK_CHECK_EVERY = 20_000;

  private FuzzInput() {}

  /** True when Jazzer fuzzes ({@code JAZZER_FUZZ} set), false when it replays the seeds. */
  public static boolean fuzzing() {
    String v = System.getenv("JAZZER_FUZZ");
    return v != null && !v.isEmpty();
  }

  /** Starts recording Netty's reports for one input. */
  public static void begin() {
    UnhandledNettyErrors.start();
  }

  /**
   * Ends one input: throws an {@link AssertionError} (a finding) if Netty reported an unhandled
   * error, if {@code allocator} (may be null) still has a live buffer, or, every
   * {@value #LEAK_CHECK_EVERY} inputs while fuzzing, if the leak detector reported a leak.
   */
  public static void end(String what, TrackingAllocator allocator) {
    UnhandledNettyErrors.stopAndCheck(what);
    if (allocator != null) {
      allocator.assertAllReleased(what);
    }
    try {
      LeakFailingExtension.verifyNoLeaksEvery(fuzzing() ? LEAK_CHECK_EVERY : 0, what);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
