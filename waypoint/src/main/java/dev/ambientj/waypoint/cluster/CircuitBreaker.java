package dev.ambientj.waypoint.cluster;

import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Envoy's per-cluster circuit breakers, from DestinationRule {@code connectionPool}:
 *
 * <ul>
 *   <li>requests in flight ≤ {@code http2MaxRequests} — else the request fails at once (503, {@code UO});
 *   <li>upstream connections ≤ {@code tcp.maxConnections} — a request that finds them all busy waits
 *       (pending) if fewer than {@code http1MaxPendingRequests} already wait, else fails with {@code UO};
 *   <li>retries in flight ≤ {@code maxRetries} — a retry beyond that is not made (the last response
 *       is returned).
 * </ul>
 *
 * <p>Lock-free: counters are atomics, waiters a concurrent queue; a released connection slot goes
 * straight to the oldest waiter. Waiters are called on the releasing thread and must hop to
 * their own event loop.
 */
public final class CircuitBreaker {
  /** Someone waiting for a connection slot. */
  public interface Waiter {
    void granted();
  }

  private final AtomicInteger requests = new AtomicInteger();
  private final AtomicInteger connections = new AtomicInteger();
  private final AtomicInteger pending = new AtomicInteger();
  private final AtomicInteger retries = new AtomicInteger();
  private final Queue<Waiter> waiters = new ConcurrentLinkedQueue<>();
  private volatile ClusterPolicy policy;

  CircuitBreaker(ClusterPolicy policy) {
    this.policy = policy;
  }

  void update(ClusterPolicy p) {
    this.policy = p;
  }

  /** Admits a request (counts it in flight) unless {@code http2MaxRequests} is reached. */
  public boolean tryStartRequest() {
    return tryIncrement(requests, policy.http2MaxRequests());
  }

  public void endRequest() {
    requests.decrementAndGet();
  }

  /** Admits a retry unless {@code maxRetries} retries are in flight. */
  public boolean tryStartRetry() {
    return tryIncrement(retries, policy.maxRetries());
  }

  public void endRetry() {
    retries.decrementAndGet();
  }

  /**
   * Takes a connection slot: calls {@code w.granted()} now or once a slot frees, and returns
   * true; returns false (overflow) if no slot is free and the pending queue is full.
   */
  public boolean acquireConnection(Waiter w) {
    if (tryIncrement(connections, policy.maxConnections())) {
      w.granted();
      return true;
    }
    if (!tryIncrement(pending, policy.http1MaxPendingRequests())) {
      return false;
    }
    waiters.add(w);
    drain();
    return true;
  }

  /** Withdraws a waiter that gave up (timeout, client gone); false if it was already granted. */
  public boolean cancelWait(Waiter w) {
    if (waiters.remove(w)) {
      pending.decrementAndGet();
      return true;
    }
    return false;
  }

  public void releaseConnection() {
    connections.decrementAndGet();
    drain();
  }

  private void drain() {
    while (!waiters.isEmpty()) {
      if (!tryIncrement(connections, policy.maxConnections())) {
        return;
      }
      Waiter w = waiters.poll();
      if (w == null) {
        connections.decrementAndGet();
        continue;
      }
      pending.decrementAndGet();
      w.granted();
    }
  }

  public int activeRequests() {
    return requests.get();
  }

  public int activeConnections() {
    return connections.get();
  }

  public int pendingRequests() {
    return pending.get();
  }

  private static boolean tryIncrement(AtomicInteger c, int max) {
    while (true) {
      int v = c.get();
      if (v >= max) {
        return false;
      }
      if (c.compareAndSet(v, v + 1)) {
        return true;
      }
    }
  }
}
