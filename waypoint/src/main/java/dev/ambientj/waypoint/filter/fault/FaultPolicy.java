package dev.ambientj.waypoint.filter.fault;

import java.time.Duration;
import java.util.random.RandomGenerator;

/**
 * A route's fault injection (VirtualService {@code fault}): a fixed delay and/or an abort, each
 * applied to a percentage of the requests the route matched. Delay and abort are drawn
 * independently, as Envoy's fault filter does; the delay happens first.
 *
 * @param delay zero for no delay
 * @param delayPercent 0..100
 * @param abortHttpStatus 0 for none
 * @param abortGrpcStatus null for none; a gRPC status code number as text ("14") when set
 * @param abortPercent 0..100
 */
public record FaultPolicy(
    Duration delay, double delayPercent, int abortHttpStatus, String abortGrpcStatus, double abortPercent) {

  public static final FaultPolicy NONE = new FaultPolicy(Duration.ZERO, 0, 0, null, 0);

  /** What to do to one request. */
  public record Decision(Duration delay, int abortHttpStatus, String abortGrpcStatus) {
    public static final Decision PASS = new Decision(Duration.ZERO, 0, null);

    public boolean delays() {
      return !delay.isZero();
    }

    public boolean aborts() {
      return abortHttpStatus != 0 || abortGrpcStatus != null;
    }
  }

  public boolean isNone() {
    return (delay.isZero() || delayPercent <= 0)
        && ((abortHttpStatus == 0 && abortGrpcStatus == null) || abortPercent <= 0);
  }

  /** Draws the decision for one request. */
  public Decision decide(RandomGenerator random) {
    if (isNone()) {
      return Decision.PASS;
    }
    boolean delayIt = !delay.isZero() && hit(delayPercent, random);
    boolean abortIt = (abortHttpStatus != 0 || abortGrpcStatus != null) && hit(abortPercent, random);
    if (!delayIt && !abortIt) {
      return Decision.PASS;
    }
    return new Decision(delayIt ? delay : Duration.ZERO, abortIt ? abortHttpStatus : 0,
        abortIt ? abortGrpcStatus : null);
  }

  private static boolean hit(double percent, RandomGenerator random) {
    if (percent >= 100) {
      return true;
    }
    return percent > 0 && random.nextDouble() * 100 < percent;
  }
}
