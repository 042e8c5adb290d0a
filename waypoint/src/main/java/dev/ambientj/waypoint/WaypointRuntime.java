package dev.ambientj.waypoint;

import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.waypoint.telemetry.Telemetry;
import java.util.concurrent.atomic.AtomicReference;
import java.util.random.RandomGenerator;

/**
 * What every connection and request of one waypoint shares: the current compiled config (one
 * volatile read per request), the upstream connector, telemetry, clock and randomness, buffer
 * bounds, deadlines and caps.
 */
final class WaypointRuntime {
  final AtomicReference<WaypointConfig> config = new AtomicReference<>();
  volatile UpstreamConnector connector;
  final Telemetry telemetry;
  final Ticker ticker;
  final RandomGenerator random;
  final int maxRequestBytes;
  final StreamBuffers buffers;
  final DownstreamLimits limits;
  volatile SpiffeId identity;

  WaypointRuntime(UpstreamConnector connector, Telemetry telemetry, Ticker ticker, RandomGenerator random,
      int maxRequestBytes, StreamBuffers buffers, DownstreamLimits limits) {
    this.connector = connector;
    this.telemetry = telemetry;
    this.ticker = ticker;
    this.random = random;
    this.maxRequestBytes = maxRequestBytes;
    this.buffers = buffers;
    this.limits = limits;
  }

  WaypointConfig config() {
    return config.get();
  }
}
