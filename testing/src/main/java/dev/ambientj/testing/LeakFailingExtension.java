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
    for (int round = 0; round < 3; round++) {
      System.gc();
      Thread.sleep(50);
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
