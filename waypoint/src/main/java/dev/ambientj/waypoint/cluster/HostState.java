package dev.ambientj.waypoint.cluster;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The mutable health of one endpoint within one cluster. Survives snapshot swaps (kept by
 * {@link ClusterManager} per cluster and workload), so an ejection outlives a config push.
 * Updated from any event loop: atomics only.
 */
final class HostState {
  final AtomicInteger activeRequests = new AtomicInteger();
  final AtomicInteger consecutive5xx = new AtomicInteger();
  final AtomicInteger consecutiveGateway = new AtomicInteger();
  /** Nanos (ticker time) until which the host is ejected; Long.MIN_VALUE when never ejected. */
  final AtomicLong ejectedUntil = new AtomicLong(Long.MIN_VALUE);
  /** Times ejected, decayed by one per quiet {@code interval} (see {@link OutlierDetector}). */
  final AtomicInteger ejections = new AtomicInteger();
  /** Idle upstream HTTP/1.1 connections, most recent first (LIFO keeps few connections warm). */
  final java.util.concurrent.ConcurrentLinkedDeque<Idle> idle = new java.util.concurrent.ConcurrentLinkedDeque<>();

  record Idle(io.netty.channel.Channel channel, long since) {}

  /** The shared HTTP/2 upstream connection to this host (gRPC and http2 ports) and its open streams. */
  final java.util.concurrent.atomic.AtomicReference<H2> h2 = new java.util.concurrent.atomic.AtomicReference<>();

  record H2(io.netty.channel.Channel channel, AtomicInteger streams) {}

  boolean isEjected(long now) {
    long until = ejectedUntil.get();
    return until != Long.MIN_VALUE && now < until;
  }
}
