package dev.ambientj.ztunnel.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class BatchingLineWriterTest {

  @Test
  void everyLineArrivesWholeAndInOrder() throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    BatchingLineWriter w = new BatchingLineWriter(new PrintStream(bytes, true), 100_000, "test-log");
    for (int i = 0; i < 5_000; i++) {
      w.accept("{\"n\":" + i + "}");
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (w.waiting() > 0 && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    Thread.sleep(50); // the last batch's write
    String[] lines = bytes.toString(StandardCharsets.UTF_8).split("\n");
    assertThat(lines).containsExactly(IntStream.range(0, 5_000).mapToObj(i -> "{\"n\":" + i + "}")
        .toArray(String[]::new));
    assertThat(w.dropped()).isZero();
  }

  @Test
  void aWriterThatCannotKeepUpDropsAndCountsInsteadOfBlocking() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    AtomicInteger linesInTheStuckWrite = new AtomicInteger();
    OutputStream stuck = new OutputStream() { // a log reader that stopped reading
      @Override
      public void write(int b) {
        await(release);
      }

      @Override
      public void write(byte[] b, int off, int len) {
        for (int i = off; i < off + len; i++) {
          if (b[i] == '\n') {
            linesInTheStuckWrite.incrementAndGet();
          }
        }
        await(release);
      }
    };
    BatchingLineWriter w = new BatchingLineWriter(new PrintStream(stuck), 10, "test-stuck-log");
    long start = System.nanoTime();
    for (int i = 0; i < 1_000; i++) {
      w.accept("line " + i);
    }
    assertThat(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start))
        .as("accept never waits for the stream").isLessThan(10);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (linesInTheStuckWrite.get() == 0 && System.nanoTime() < deadline) {
      Thread.onSpinWait(); // the writer thread reaches its (stuck) write
    }
    // the batch in the stuck write took what was queued while it was being built (it may be more
    // than the queue holds: accept kept adding); everything else waits (at most 10) or is dropped
    assertThat(w.dropped()).as("at most 10 wait, besides the one batch in the write")
        .isGreaterThanOrEqualTo(1_000 - 10 - linesInTheStuckWrite.get());
    release.countDown();
  }

  @Test
  void drainWritesWhatIsWaitingFromTheCaller() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    BatchingLineWriter w = new BatchingLineWriter(new PrintStream(bytes, true), 100, "test-drain");
    w.accept("a");
    w.drain();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!bytes.toString(StandardCharsets.UTF_8).equals("a\n") && System.nanoTime() < deadline) {
      Thread.onSpinWait();
    }
    assertThat(bytes.toString(StandardCharsets.UTF_8)).isEqualTo("a\n");
  }

  private static void await(CountDownLatch latch) {
    try {
      latch.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
