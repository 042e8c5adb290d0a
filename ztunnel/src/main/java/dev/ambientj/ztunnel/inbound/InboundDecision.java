package dev.ambientj.ztunnel.inbound;

import dev.ambientj.config.model.Service;
import java.net.InetSocketAddress;

/** What the inbound HBONE path does with one CONNECT, as decided by {@link InboundResolver}. */
public sealed interface InboundDecision {

  /**
   * Connect {@code upstream} (the local pod's address and app port).
   *
   * @param service the service the authority (or the forwarded host) named, or null
   */
  record Accept(InetSocketAddress upstream, Service service) implements InboundDecision {}

  /** Answer {@code status} (400, 503…) with an operator-facing {@code message}. */
  record Refuse(int status, String reason, String message) implements InboundDecision {}
}
