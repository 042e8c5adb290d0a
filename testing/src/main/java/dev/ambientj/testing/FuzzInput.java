package dev.ambientj.testing;

import io.netty.buffer.ByteBuf;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.ReferenceCounted;
import java.util.concurrent.TimeUnit;

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

  /**
   * Writes {@code input[from..]} into {@code ch}, {@code chunk} bytes at a time (0: all at once) in
   * buffers of the channel's allocator, running queued tasks and releasing what the channel wrote
   * after each write; stops early if the channel closes.
   */
  public static void writeInChunks(EmbeddedChannel ch, byte[] input, int from, int chunk) {
    int at = from;
    while (at < input.length && ch.isOpen()) {
      int n = chunk <= 0 ? input.length - at : Math.min(chunk, input.length - at);
      ByteBuf b = ch.alloc().buffer(n);
      b.writeBytes(input, at, n);
      at += n;
      ch.writeInbound(b);
      ch.runPendingTasks();
      releaseOutbound(ch);
    }
  }

  /** Lets {@code seconds} pass on {@code ch}'s clock, {@code steps} times, running what falls due. */
  public static void letTimePass(EmbeddedChannel ch, int steps, long seconds) {
    for (int i = 0; i < steps && ch.isOpen(); i++) {
      ch.advanceTimeBy(seconds, TimeUnit.SECONDS);
      ch.runScheduledPendingTasks();
      ch.runPendingTasks();
      releaseOutbound(ch);
    }
  }

  /**
   * Releases what {@code ch} wrote (the peer's side of the conversation is not checked here). Netty's
   * HTTP/1 encoder may write several buffers that share one reference count: each is released
   * only while it still holds one, as a socket's outbound buffer releases what it wrote.
   */
  public static void releaseOutbound(EmbeddedChannel ch) {
    for (Object o; (o = ch.readOutbound()) != null; ) {
      if (!(o instanceof ReferenceCounted rc) || rc.refCnt() > 0) {
        ReferenceCountUtil.release(o);
      }
    }
  }

  /** Releases what reached the end of {@code ch}'s pipeline. */
  public static void releaseInbound(EmbeddedChannel ch) {
    for (Object o; (o = ch.readInbound()) != null; ) {
      ReferenceCountUtil.release(o);
    }
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
