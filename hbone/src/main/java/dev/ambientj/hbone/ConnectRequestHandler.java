package dev.ambientj.hbone;

/**
 * Decides what happens to an inbound CONNECT. Called on the stream's event loop: must not block.
 * Exactly one of {@link ConnectResponder#accept()} or {@link ConnectResponder#refuse} must
 * eventually be called (an exception thrown from here answers 503).
 */
@FunctionalInterface
public interface ConnectRequestHandler {

  void onConnect(ConnectRequest request, ConnectResponder responder);

  /**
   * Told of what the server did to a peer on its own (a deadline, a limit, a protocol error),
   * already logged by hbone: for metrics. On the connection's event loop; must not block.
   */
  default void onServerEvent(HboneServerEvent event) {}
}
