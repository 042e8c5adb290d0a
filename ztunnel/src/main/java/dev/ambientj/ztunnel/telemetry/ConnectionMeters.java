package dev.ambientj.ztunnel.telemetry;

import io.micrometer.core.instrument.Counter;

/**
 * The four Istio TCP counters of one label set. Istio's byte convention holds for both reporters:
 * {@code received} counts request bytes (client to server), {@code sent} counts response bytes
 * (server to client) — the "flip" of istio/istio#32399 for the source reporter.
 */
public record ConnectionMeters(Counter opened, Counter closed, Counter sent, Counter received) {

  /** Records the end of a connection. */
  public void recordClose(long requestBytes, long responseBytes) {
    closed.increment();
    if (requestBytes > 0) {
      received.increment(requestBytes);
    }
    if (responseBytes > 0) {
      sent.increment(responseBytes);
    }
  }
}
