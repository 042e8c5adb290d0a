package dev.ambientj.ztunnel.telemetry;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;

/**
 * An {@link AccessLogSink} that takes lines from the event loops without blocking them and writes
 * them to a stream from one daemon thread, as many as are waiting in one write.
 *
 * <p>Why: {@code println} to the container's stdout on the event loop was a blocking
 * {@code write(2)} per connection — JFR put the access log at 7% of ztunnel's Java CPU in the
 * bench's new-connection step, before the system call itself — and a slow log reader would have
 * stalled every connection of the loop.
 *
 * <p>Invariants: {@link #accept} never blocks and never allocates beyond the queue node; at most
 * {@code capacity} lines wait, a line past that is dropped and counted ({@link #dropped()}), as
 * a full pipe must not become unbounded memory; lines keep their order; each batch is one
 * {@code write} on the stream, so lines never interleave with other writers of the same
 * {@code PrintStream}. The writer thread parks when the queue is empty and is unparked by the
 * next line.
 */
final class BatchingLineWriter implements AccessLogSink {
  private static final int MAX_BATCH_BYTES = 64 << 10;

  private final PrintStream out;
  private final int capacity;
  private final ConcurrentLinkedQueue<String> queue = new ConcurrentLinkedQueue<>();
  private final AtomicInteger waiting = new AtomicInteger();
  private final LongAdder dropped = new LongAdder();
  private final Thread writer;
  private volatile boolean parked;

  /** The process's one writer to standard output, started on first use; drained at exit. */
  static BatchingLineWriter stdout() {
    return Stdout.WRITER;
  }

  private static final class Stdout {
    static final BatchingLineWriter WRITER = create();

    private static BatchingLineWriter create() {
      BatchingLineWriter w = new BatchingLineWriter(System.out, 65_536, "ztunnel-access-log");
      Runtime.getRuntime().addShutdownHook(Thread.ofPlatform().unstarted(w::drain));
      return w;
    }
  }

  BatchingLineWriter(PrintStream out, int capacity, String threadName) {
    this.out = out;
    this.capacity = capacity;
    this.writer = Thread.ofPlatform().daemon().name(threadName).unstarted(this::run);
    writer.start();
  }

  @Override
  public void accept(String line) {
    if (waiting.incrementAndGet() > capacity) {
      waiting.decrementAndGet();
      dropped.increment();
      return;
    }
    queue.add(line);
    if (parked) {
      LockSupport.unpark(writer);
    }
  }

  /** Lines dropped because {@code capacity} lines were already waiting. */
  long dropped() {
    return dropped.sum();
  }

  /** Lines waiting to be written. */
  int waiting() {
    return waiting.get();
  }

  /** Writes what is waiting now, from the calling thread (at exit: lines are not lost). */
  void drain() {
    StringBuilder rest = new StringBuilder();
    for (String line; (line = queue.poll()) != null; ) {
      waiting.decrementAndGet();
      rest.append(line).append('\n');
    }
    if (!rest.isEmpty()) {
      byte[] bytes = rest.toString().getBytes(StandardCharsets.UTF_8);
      out.write(bytes, 0, bytes.length);
      out.flush();
    }
  }

  private void run() {
    StringBuilder batch = new StringBuilder(MAX_BATCH_BYTES);
    for (;;) {
      String line = queue.poll();
      if (line == null) {
        parked = true;
        if (queue.isEmpty()) { // a line added before `parked` was seen is not missed
          LockSupport.park(this);
        }
        parked = false;
        continue;
      }
      batch.setLength(0);
      do {
        waiting.decrementAndGet();
        batch.append(line).append('\n');
      } while (batch.length() < MAX_BATCH_BYTES && (line = queue.poll()) != null);
      byte[] bytes = batch.toString().getBytes(StandardCharsets.UTF_8);
      out.write(bytes, 0, bytes.length);
      out.flush();
    }
  }
}
