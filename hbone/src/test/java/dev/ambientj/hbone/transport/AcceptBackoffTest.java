package dev.ambientj.hbone.transport;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.unix.Errors;
import java.io.IOException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The pause-and-resume of a listening socket whose accepts fail, on an {@link EmbeddedChannel}
 * standing for the listener (its pipeline sees the same events: accepted children as reads,
 * failed accepts as exceptions) with a frozen clock.
 */
class AcceptBackoffTest {
  static {
    Epoll.ensureAvailability(); // loads the native library Errors needs
  }

  private static final IOException EMFILE = Errors.newIOException("accept", -24);

  private final AcceptBackoff backoff = new AcceptBackoff("test proxy");
  private final EmbeddedChannel listener = new EmbeddedChannel();

  AcceptBackoffTest() {
    listener.freezeTime();
    listener.pipeline().addLast(backoff.handler("127.0.0.1:15080"));
  }

  @AfterEach
  void close() {
    listener.finishAndReleaseAll();
  }

  @Test
  void aFailedAcceptPausesTheListenerAndItResumesByItself() {
    listener.pipeline().fireExceptionCaught(EMFILE);

    assertThat(listener.config().isAutoRead()).isFalse();
    assertThat(backoff.failures(AcceptBackoff.Error.EMFILE)).isEqualTo(1);
    assertThat(backoff.failing()).isTrue();

    advance(AcceptBackoff.INITIAL_DELAY.toMillis());

    assertThat(listener.config().isAutoRead()).isTrue();
  }

  @Test
  void consecutiveFailuresBackOffExponentiallyUpToOneSecond() {
    long[] expected = {50, 100, 200, 400, 800, 1000, 1000};
    for (long delay : expected) {
      listener.pipeline().fireExceptionCaught(EMFILE);
      advance(delay - 1);
      assertThat(listener.config().isAutoRead()).as("paused for %d ms", delay).isFalse();
      advance(1);
      assertThat(listener.config().isAutoRead()).isTrue();
    }
    assertThat(backoff.failures(AcceptBackoff.Error.EMFILE)).isEqualTo(expected.length);
  }

  @Test
  void aSuccessfulAcceptResetsTheDelay() {
    listener.pipeline().fireExceptionCaught(EMFILE);
    advance(50);
    listener.pipeline().fireExceptionCaught(EMFILE);
    advance(100);
    listener.writeInbound("an accepted child");
    assertThat((String) listener.readInbound()).isEqualTo("an accepted child");

    listener.pipeline().fireExceptionCaught(EMFILE);
    advance(50);
    assertThat(listener.config().isAutoRead()).isTrue();
  }

  @Test
  void theEpisodeEndsAfterAQuietPeriodAndANewOneCanStart() {
    listener.pipeline().fireExceptionCaught(EMFILE);
    advance(50);
    listener.pipeline().fireExceptionCaught(EMFILE);
    advance(100);
    assertThat(backoff.failing()).isTrue();

    advance(AcceptBackoff.QUIET.toMillis());

    assertThat(backoff.failing()).isFalse();
    listener.pipeline().fireExceptionCaught(new IOException("Too many open files in system"));
    assertThat(backoff.failing()).isTrue();
    assertThat(backoff.failures(AcceptBackoff.Error.ENFILE)).isEqualTo(1);
  }

  @Test
  void errorsAreClassifiedByErrnoOrMessage() {
    assertThat(AcceptBackoff.classify(EMFILE)).isEqualTo(AcceptBackoff.Error.EMFILE);
    assertThat(AcceptBackoff.classify(Errors.newIOException("accept", -23)))
        .isEqualTo(AcceptBackoff.Error.ENFILE);
    assertThat(AcceptBackoff.classify(new IOException("Too many open files")))
        .isEqualTo(AcceptBackoff.Error.EMFILE);
    assertThat(AcceptBackoff.classify(new IOException("No buffer space available")))
        .isEqualTo(AcceptBackoff.Error.OTHER);
  }

  private void advance(long millis) {
    listener.advanceTimeBy(millis, TimeUnit.MILLISECONDS);
    listener.runScheduledPendingTasks();
  }
}
