package dev.ambientj.waypoint;

import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/** One pending deadline of a channel: arming it again replaces the previous one. Confined to the channel's loop. */
final class Deadline {
  private ScheduledFuture<?> timer;

  /** Runs {@code action} on {@code loop} after {@code nanos}, unless cancelled or re-armed first; nothing when {@code nanos <= 0}. */
  void arm(EventExecutor loop, long nanos, Runnable action) {
    cancel();
    if (nanos > 0) {
      timer = loop.schedule(() -> {
        timer = null;
        action.run();
      }, nanos, TimeUnit.NANOSECONDS);
    }
  }

  void cancel() {
    if (timer != null) {
      timer.cancel(false);
      timer = null;
    }
  }
}
