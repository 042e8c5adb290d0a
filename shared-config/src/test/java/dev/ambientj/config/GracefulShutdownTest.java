package dev.ambientj.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** {@link GracefulShutdown#requestDrain()}: what {@code POST /quitquitquit} starts. */
class GracefulShutdownTest {
  @Test
  void aRequestedDrainReleasesTheMainThreadWithoutASignalAndOnlyOnce() throws Exception {
    assertThat(GracefulShutdown.requestDrain()).as("nothing installed: the caller drains itself")
        .isFalse();
    GracefulShutdown shutdown = GracefulShutdown.install("test", Duration.ofSeconds(5));
    CountDownLatch released = new CountDownLatch(1);
    Thread main = Thread.ofPlatform().start(() -> {
      try {
        shutdown.awaitSignal();
        released.countDown();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    assertThat(released.await(100, TimeUnit.MILLISECONDS)).isFalse();

    assertThat(GracefulShutdown.requestDrain()).isTrue();

    assertThat(released.await(10, TimeUnit.SECONDS)).as("awaitSignal returned").isTrue();
    assertThat(shutdown.signalled()).as("no signal came: the JVM is not exiting").isFalse();
    shutdown.finished(); // removes the hook (no signal), and uninstalls it
    assertThat(GracefulShutdown.requestDrain()).as("finished: nothing to drain any more").isFalse();
    main.join(5000);
  }
}
