package dev.ambientj.waypoint;

import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.waypoint.telemetry.Telemetry;
import dev.ambientj.waypoint.telemetry.Tracing;
import java.util.concurrent.atomic.AtomicReference;
import java.util.random.RandomGenerator;

/**
 * What every connection and request of one waypoint shares: the current compiled config (one
 * volatile read per request), the upstream connector, telemetry and spans, clock and randomness, buffer
 * bounds, deadlines and caps.
 */
final class WaypointRuntime {
  final AtomicReference<WaypointConfig> config = new AtomicReference<>();
  volatile UpstreamConnector connector;
  final Telemetry telemetry;
  final Tracing tracing;
  final Ticker ticker;
  final RandomGenerator random;
  final int maxRequestBytes;
  final StreamBuffers buffers;
  final DownstreamLimits limits;
  volatile SpiffeId identity;
  final DownstreamDrain drain = new DownstreamDrain();
  /** How long a shutdown lets requests in progress run ({@link DownstreamDrain}). */
  final java.time.Duration drainDeadline;
  /**
   * Proxies in front of the waypoint whose {@code X-Forwarded-For} entries are trusted for
   * {@code remote.ip} (Istio's {@code gatewayTopology.numTrustedProxies}; default 0).
   */
  volatile int numTrustedProxies;

  WaypointRuntime(UpstreamConnector connector, Telemetry telemetry, Tracing tracing, Ticker ticker, RandomGenerator random,
      int maxRequestBytes, StreamBuffers buffers, DownstreamLimits limits, java.time.Duration drainDeadline) {
    this.connector = connector;
    this.telemetry = telemetry;
    this.tracing = tracing;
    this.ticker = ticker;
    this.random = random;
    this.maxRequestBytes = maxRequestBytes;
    this.buffers = buffers;
    this.limits = limits;
    this.drainDeadline = drainDeadline;
  }

  WaypointConfig config() {
    return config.get();
  }
}
