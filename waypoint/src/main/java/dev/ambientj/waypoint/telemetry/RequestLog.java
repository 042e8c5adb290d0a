package dev.ambientj.waypoint.telemetry;

import dev.ambientj.config.model.Service;
import dev.ambientj.config.model.Workload;

/**
 * Everything known about one finished request, for the metrics and the access log. Filled in
 * by the exchange on its event loop, handed to {@link Telemetry#record} once.
 */
public final class RequestLog {
  public long startMillis;
  public long startNanos;
  public long durationNanos;
  public String method;
  public String path;
  public String authority;
  public String protocol;
  public boolean grpc;
  public int responseCode;
  public String grpcStatus;
  public final StringBuilder flags = new StringBuilder();
  public long requestBytes;
  public long responseBytes;
  public String requestId;
  public String traceparent;
  public String route;
  public String cluster;
  public String upstreamHost;
  public int attempts;
  public String sourcePrincipal;
  public String sourceAddress;
  public Workload sourceWorkload;
  public Service destinationService;
  public Workload destinationWorkload;
  public String detail;
  public String userAgent;

  /** Adds an Envoy response flag ({@code UO}, {@code UH}, ...) once. */
  public void flag(String f) {
    for (String existing : flags.toString().split(",")) {
      if (existing.equals(f)) {
        return;
      }
    }
    if (!flags.isEmpty()) {
      flags.append(',');
    }
    flags.append(f);
  }

  public String flagsOrDash() {
    return flags.isEmpty() ? "-" : flags.toString();
  }
}
