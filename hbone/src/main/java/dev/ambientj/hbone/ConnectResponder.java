package dev.ambientj.hbone;

import io.netty.channel.Channel;
import io.netty.channel.EventLoop;

/**
 * Answers one CONNECT. May be called from any thread; the work happens on {@link #eventLoop()}.
 */
public interface ConnectResponder {

  /** The stream's event loop: connect the upstream on it so the relay needs no thread hop. */
  EventLoop eventLoop();

  /**
   * Sends 200 and returns the tunnel: a channel whose inbound messages are {@code ByteBuf}s of
   * tunneled bytes (the receiver releases them) and which accepts {@code ByteBuf} writes (the
   * channel releases them). The channel does not read until auto-read is switched on or
   * {@code read()} is called — {@link Relay#start} does both; bytes the client sent early are kept
   * until then. Call only once the upstream is connected (ztunnel: "200 only once connected"). If
   * the client has already reset the stream the returned channel is closed.
   */
  Channel accept();

  /**
   * Answers {@code status} (400 bad request, 401 denied, 503 no such destination / upstream
   * unreachable) and ends the stream. {@code reason} is logged at debug, not sent.
   */
  void refuse(int status, String reason);

  /**
   * Runs {@code action} on {@link #eventLoop()} if the CONNECT goes away before it is answered —
   * the client reset it (RST_STREAM), its connection closed, or the answer deadline
   * ({@link HboneServerConfig#connectTimeout()}) passed and the server answered 504 — so the
   * handler can cancel what it started for it (an upstream connect), or close what it just
   * opened. Runs at once if the stream is already gone; never after {@link #accept()} or
   * {@link #refuse}. May be called more than once.
   */
  void onCancel(Runnable action);

  /**
   * Completes when the stream is gone, whatever the answer was: refused, reset, or accepted and
   * then closed (e.g. to hold a per-source slot exactly as long as the stream).
   */
  io.netty.util.concurrent.Future<Void> streamClosed();
}
