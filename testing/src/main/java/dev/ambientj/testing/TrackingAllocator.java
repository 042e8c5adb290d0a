package dev.ambientj.testing;

import io.netty.buffer.AbstractByteBufAllocator;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.util.ArrayList;
import java.util.List;

/**
 * An allocator that remembers every buffer it handed out, so a test (a fuzz target, once per
 * input) can check that all of them were released — at once, without waiting for the garbage
 * collector as Netty's leak detector must.
 *
 * <p>Install it on a channel before its handlers allocate ({@code channel.config().setAllocator});
 * buffers a handler takes from elsewhere ({@code Unpooled}, {@code ByteBufAllocator.DEFAULT}) are
 * not seen here and are left to the {@link LeakFailingExtension}. Not thread-safe: one channel's
 * event loop (an {@code EmbeddedChannel}'s is the test thread).
 */
public final class TrackingAllocator extends AbstractByteBufAllocator {

  /** {@code -Dambientj.trackingAllocator.traces=true}: say where each unreleased buffer was allocated. */
  private static final boolean TRACES = Boolean.getBoolean("ambientj.trackingAllocator.traces");

  private final UnpooledByteBufAllocator delegate = new UnpooledByteBufAllocator(false, true);
  private final List<ByteBuf> handedOut = new ArrayList<>();
  private final java.util.Map<ByteBuf, Throwable> allocatedAt = new java.util.IdentityHashMap<>();

  public TrackingAllocator() {
    super(false);
  }

  @Override
  protected ByteBuf newHeapBuffer(int initialCapacity, int maxCapacity) {
    return track(delegate.heapBuffer(initialCapacity, maxCapacity));
  }

  @Override
  protected ByteBuf newDirectBuffer(int initialCapacity, int maxCapacity) {
    return track(delegate.directBuffer(initialCapacity, maxCapacity));
  }

  @Override
  public CompositeByteBuf compositeHeapBuffer(int maxNumComponents) {
    CompositeByteBuf b = new CompositeByteBuf(this, false, maxNumComponents);
    track(b);
    return b;
  }

  @Override
  public CompositeByteBuf compositeDirectBuffer(int maxNumComponents) {
    CompositeByteBuf b = new CompositeByteBuf(this, true, maxNumComponents);
    track(b);
    return b;
  }

  @Override
  public boolean isDirectBufferPooled() {
    return false;
  }

  private ByteBuf track(ByteBuf b) {
    handedOut.add(b);
    if (TRACES) {
      allocatedAt.put(b, new Throwable("allocated here"));
    }
    return b;
  }

  /** Buffers handed out so far that still hold a reference. */
  public List<ByteBuf> unreleased() {
    List<ByteBuf> live = new ArrayList<>();
    for (ByteBuf b : handedOut) {
      if (b.refCnt() > 0) {
        live.add(b);
      }
    }
    return live;
  }

  /**
   * Throws when a buffer handed out is still referenced (its description says size and content);
   * then releases them and forgets every buffer, so the next input starts clean.
   */
  public void assertAllReleased(String what) {
    List<ByteBuf> live = unreleased();
    handedOut.clear();
    java.util.Map<ByteBuf, Throwable> traces = new java.util.IdentityHashMap<>(allocatedAt);
    allocatedAt.clear();
    if (live.isEmpty()) {
      return;
    }
    StringBuilder sb = new StringBuilder(live.size() + " buffer(s) not released after " + what + ":");
    for (ByteBuf b : live) {
      sb.append("\n  ").append(b.getClass().getSimpleName()).append(" refCnt=").append(b.refCnt())
          .append(" readable=").append(b.readableBytes());
      int n = Math.min(b.readableBytes(), 32);
      if (n > 0) {
        sb.append(" starts ").append(io.netty.buffer.ByteBufUtil.hexDump(b, b.readerIndex(), n));
      }
      Throwable at = traces.get(b);
      if (at != null) {
        java.io.StringWriter w = new java.io.StringWriter();
        at.printStackTrace(new java.io.PrintWriter(w));
        sb.append("\n    ").append(w.toString().replace("\n", "\n    "));
      }
      if (!TRACES) { // with traces on, the leak detector reports it too, with its last accesses
        b.release(b.refCnt());
      }
    }
    throw new AssertionError(sb.toString());
  }
}
