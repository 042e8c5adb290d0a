package dev.ambientj.hbone;

import java.time.Duration;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * Server (port 15008) settings. {@link #defaults()} follows ztunnel: 200 concurrent streams, 4 MiB
 * stream / 16 MiB connection windows, 1 MiB frames, 64 KiB header lists, PING after 5 s without
 * inbound traffic and close when 4 s pass without an answer (a peer ztunnel that died silently is
 * noticed within 9 s, and the connections relayed for it closed), TLS 1.3 only.
 *
 * <p>Deadlines and limits of the phases before a tunnel relays (each counted, see
 * {@link HboneServerEvent}):
 *
 * @param handshakeTimeout the TLS handshake must complete within this (default 10 s)
 * @param firstRequestTimeout after the handshake, the client's first CONNECT must arrive within
 *     this (the HTTP/2 preface and SETTINGS come before it); else GOAWAY and close (default 10 s)
 * @param connectTimeout a CONNECT must be answered within this — ztunnel answers once the app's
 *     connection is up — else 504 and the handler's pending work is cancelled (default 10 s,
 *     ztunnel's {@code CONNECTION_TIMEOUT})
 * @param prematureResetLimit how many CONNECTs a peer may reset before they are answered within
 *     {@code prematureResetWindow}; one more is answered with GOAWAY ENHANCE_YOUR_CALM and the
 *     connection is closed (the HTTP/2 "rapid reset" attack: every such stream cost us an upstream
 *     connect). Default 200 per 10 s: a ztunnel client resets a CONNECT before its answer only when
 *     it gives up on it (10 s), and iperf3-like clients that abort data streams reset them after
 *     the answer, which this does not count
 * @param drainTimeout how long {@link HboneServer#drain()} lets open streams finish after GOAWAY
 */
public record HboneServerConfig(
    int maxConcurrentStreams,
    int streamWindowSize,
    int connectionWindowSize,
    int maxFrameSize,
    int maxHeaderListSize,
    Duration pingInterval,
    Duration pingTimeout,
    Duration handshakeTimeout,
    Duration firstRequestTimeout,
    Duration connectTimeout,
    int prematureResetLimit,
    Duration prematureResetWindow,
    Duration drainTimeout,
    boolean tls12Enabled,
    TlsProvider tlsProvider) {

  public HboneServerConfig {
    Http2Tuning.check(streamWindowSize, connectionWindowSize, maxFrameSize);
    if (maxConcurrentStreams < 1) {
      throw new IllegalArgumentException("maxConcurrentStreams must be >= 1");
    }
    if (prematureResetLimit < 1) {
      throw new IllegalArgumentException("prematureResetLimit must be >= 1");
    }
    positive(handshakeTimeout, "handshakeTimeout");
    positive(firstRequestTimeout, "firstRequestTimeout");
    positive(connectTimeout, "connectTimeout");
    positive(prematureResetWindow, "prematureResetWindow");
    Objects.requireNonNull(pingInterval, "pingInterval");
    Objects.requireNonNull(pingTimeout, "pingTimeout");
    Objects.requireNonNull(drainTimeout, "drainTimeout");
    Objects.requireNonNull(tlsProvider, "tlsProvider");
  }

  private static void positive(Duration d, String name) {
    if (Objects.requireNonNull(d, name).isNegative() || d.isZero()) {
      throw new IllegalArgumentException(name + " must be positive, got " + d);
    }
  }

  public static HboneServerConfig defaults() {
    return new HboneServerConfig(200, 4 << 20, 16 << 20, 1 << 20, 64 << 10,
        Duration.ofSeconds(5), Duration.ofSeconds(4), Duration.ofSeconds(10), Duration.ofSeconds(10),
        Duration.ofSeconds(10), 200, Duration.ofSeconds(10), Duration.ofSeconds(5), false, TlsProvider.AUTO);
  }

  public HboneServerConfig withKeepalive(Duration interval, Duration timeout) {
    return with(b -> {
      b.pingInterval = interval;
      b.pingTimeout = timeout;
    });
  }

  public HboneServerConfig withTls12Enabled(boolean enabled) {
    return with(b -> b.tls12Enabled = enabled);
  }

  public HboneServerConfig withTlsProvider(TlsProvider provider) {
    return with(b -> b.tlsProvider = provider);
  }

  public HboneServerConfig withMaxConcurrentStreams(int max) {
    return with(b -> b.maxConcurrentStreams = max);
  }

  public HboneServerConfig withDrainTimeout(Duration timeout) {
    return with(b -> b.drainTimeout = timeout);
  }

  /** The pre-relay deadlines: TLS handshake, first CONNECT after it, answer to a CONNECT. */
  public HboneServerConfig withDeadlines(Duration handshake, Duration firstRequest, Duration connect) {
    return with(b -> {
      b.handshakeTimeout = handshake;
      b.firstRequestTimeout = firstRequest;
      b.connectTimeout = connect;
    });
  }

  /** At most {@code limit} CONNECTs reset before their answer per {@code window}, then GOAWAY. */
  public HboneServerConfig withPrematureResetLimit(int limit, Duration window) {
    return with(b -> {
      b.prematureResetLimit = limit;
      b.prematureResetWindow = window;
    });
  }

  public HboneServerConfig withWindows(int streamWindow, int connectionWindow) {
    return with(b -> {
      b.streamWindowSize = streamWindow;
      b.connectionWindowSize = connectionWindow;
    });
  }

  private HboneServerConfig with(Consumer<Copy> change) {
    Copy b = new Copy(this);
    change.accept(b);
    return b.build();
  }

  /** A mutable copy, so that each {@code with…} names only what it changes. */
  private static final class Copy {
    int maxConcurrentStreams;
    int streamWindowSize;
    int connectionWindowSize;
    int maxFrameSize;
    int maxHeaderListSize;
    Duration pingInterval;
    Duration pingTimeout;
    Duration handshakeTimeout;
    Duration firstRequestTimeout;
    Duration connectTimeout;
    int prematureResetLimit;
    Duration prematureResetWindow;
    Duration drainTimeout;
    boolean tls12Enabled;
    TlsProvider tlsProvider;

    Copy(HboneServerConfig c) {
      maxConcurrentStreams = c.maxConcurrentStreams;
      streamWindowSize = c.streamWindowSize;
      connectionWindowSize = c.connectionWindowSize;
      maxFrameSize = c.maxFrameSize;
      maxHeaderListSize = c.maxHeaderListSize;
      pingInterval = c.pingInterval;
      pingTimeout = c.pingTimeout;
      handshakeTimeout = c.handshakeTimeout;
      firstRequestTimeout = c.firstRequestTimeout;
      connectTimeout = c.connectTimeout;
      prematureResetLimit = c.prematureResetLimit;
      prematureResetWindow = c.prematureResetWindow;
      drainTimeout = c.drainTimeout;
      tls12Enabled = c.tls12Enabled;
      tlsProvider = c.tlsProvider;
    }

    HboneServerConfig build() {
      return new HboneServerConfig(maxConcurrentStreams, streamWindowSize, connectionWindowSize, maxFrameSize,
          maxHeaderListSize, pingInterval, pingTimeout, handshakeTimeout, firstRequestTimeout, connectTimeout,
          prematureResetLimit, prematureResetWindow, drainTimeout, tls12Enabled, tlsProvider);
    }
  }
}
