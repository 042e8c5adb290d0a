package dev.ambientj.config.ca;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.slf4j.event.EventRecordingLogger;
import org.slf4j.event.Level;
import org.slf4j.event.SubstituteLoggingEvent;
import org.slf4j.helpers.MessageFormatter;
import org.slf4j.helpers.SubstituteLogger;

class RefusalLogTest {
  private final ConcurrentLinkedQueue<SubstituteLoggingEvent> events =
      new ConcurrentLinkedQueue<>();
  private final AtomicLong now = new AtomicLong();
  private final RefusalLog refusals = new RefusalLog(
      new EventRecordingLogger(new SubstituteLogger("refusals", events, false), events), Level.INFO,
      now::get);

  private String line(int i) {
    SubstituteLoggingEvent e = events.stream().skip(i).findFirst().orElseThrow();
    return MessageFormatter.arrayFormat(e.getMessage(), e.getArgumentArray()).getMessage();
  }

  @Test
  void aFloodOfRefusalsWritesTheWindowsBudgetAndThenSaysHowManyWereLeftOut() {
    for (int i = 0; i < 25; i++) {
      refusals.refused("refused call " + i + " from 127.0.0.1:4000" + i);
    }
    assertThat(events).hasSize(RefusalLog.LINES_PER_WINDOW);
    assertThat(line(0)).isEqualTo("refused call 0 from 127.0.0.1:40000");
    assertThat(refusals.total()).isEqualTo(25);

    now.addAndGet(TimeUnit.SECONDS.toNanos(RefusalLog.WINDOW_SECONDS));
    refusals.refused("refused call 25 from 127.0.0.1:40025");
    assertThat(events).hasSize(RefusalLog.LINES_PER_WINDOW + 1);
    assertThat(line(RefusalLog.LINES_PER_WINDOW)).isEqualTo(
        "refused call 25 from 127.0.0.1:40025 (15 more like it not logged; 26 in all)");

    refusals.refused("refused call 26 from 127.0.0.1:40026");
    assertThat(line(RefusalLog.LINES_PER_WINDOW + 1))
        .isEqualTo("refused call 26 from 127.0.0.1:40026");
  }
}
