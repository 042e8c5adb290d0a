package dev.ambientj.waypoint;

/** A monotonic nanosecond clock, injectable so ejections, buckets and timeouts are testable without sleeping. */
@FunctionalInterface
public interface Ticker {
  long nanoTime();

  static Ticker system() {
    return System::nanoTime;
  }
}
