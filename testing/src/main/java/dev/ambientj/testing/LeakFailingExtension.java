package dev.ambientj.testing;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import io.netty.util.ResourceLeakDetectorFactory;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Fails a test class when Netty reports a leaked reference-counted object while it ran.
 *
 * <p>Registered for every test class through JUnit's extension auto-detection (see
 * {@code META-INF/services} and {@code junit-platform.properties} in this module). Netty only
 * reports a leak when a detector notices a garbage-collected, unreleased object during a later
 * {@code track()} call, so after each class we collect garbage and allocate a few tracked buffers
 * to give the detectors that chance, then fail if anything was reported.
 */
public final class LeakFailingExtension implements BeforeAllCallback, AfterAllCallback {

  private static final List<String> LEAKS = new CopyOnWriteArrayList<>();

  static {
    // First, before Netty's classes create their loggers (see UnhandledNettyErrors).
    UnhandledNettyErrors.install();
    ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
    ResourceLeakDetectorFactory.setResourceLeakDetectorFactory(new RecordingFactory());
  }

  @Override
  public void beforeAll(ExtensionContext context) {
    LEAKS.clear();
  }

  @Override
  public void afterAll(ExtensionContext context) throws InterruptedException {
    verifyNoLeaks(context.getDisplayName());
  }

  static void verifyNoLeaks(String testClassName) throws InterruptedException {
    verifyNoLeaks(testClassName, 3, 50);
  }

  private static void verifyNoLeaks(String testClassName, int rounds, long pauseMillis)
      throws InterruptedException {
    for (int round = 0; round < rounds; round++) {
      System.gc();
      Thread.sleep(pauseMillis);
      // A leak is noticed only when a later object is tracked; allocate to trigger it.
      UnpooledByteBufAllocator allocator = new UnpooledByteBufAllocator(true);
      for (int i = 0; i < 8; i++) {
        ByteBuf probe = allocator.directBuffer(1);
        probe.release();
      }
    }
    if (!LEAKS.isEmpty()) {
      List<String> found = List.copyOf(LEAKS);
      LEAKS.clear();
      throw new AssertionError(
          found.size() + " Netty leak(s) reported during " + testClassName + ":\n"
              + String.join("\n---\n", found));
    }
  }

  /**
   * For a fuzz target that runs many inputs in one test: collects garbage, lets the detectors
   * report, and throws if a leak was reported — every {@code every}-th call (a collection per input
   * would be too slow), and never when {@code every} is 0. One collection, no pause: it runs
   * inside a fuzz input, which has a one-second budget.
   */
  public static void verifyNoLeaksEvery(int every, String what) throws InterruptedException {
    if (every > 0 && CALLS.incrementAndGet() % every == 0) {
      verifyNoLeaks(what, 1, 0);
    }
  }

  private static final java.util.concurrent.atomic.AtomicLong CALLS = new java.util.concurrent.atomic.AtomicLong();

  /** Leaks reported so far in the current test class (for tests of this extension). */
  static List<String> reportedLeaks() {
    return List.copyOf(LEAKS);
  }

  private static final class RecordingFactory extends ResourceLeakDetectorFactory {
    @Override
    public <T> ResourceLeakDetector<T> newResourceLeakDetector(
        Class<T> resource, int samplingInterval, long maxActive) {
      return new RecordingDetector<>(resource, samplingInterval);
    }
  }

  private static final class RecordingDetector<T> extends ResourceLeakDetector<T> {
    RecordingDetector(Class<T> resource, int samplingInterval) {
      super(resource, samplingInterval);
    }

    @Override
    protected void reportTracedLeak(String resourceType, String records) {
      LEAKS.add("LEAK " + resourceType + ":" + records);
      super.reportTracedLeak(resourceType, records);
    }

    @Override
    protected void reportUntracedLeak(String resourceType) {
      LEAKS.add("LEAK " + resourceType + " (untraced)");
      super.reportUntracedLeak(resourceType);
    }
  }
}
