package dev.ambientj.hbone;

import java.time.Duration;
import java.util.Objects;

/**
 * Server (port 15008) settings. {@link #defaults()} follows ztunnel: 200 concurrent streams, 4 MiB
 * stream / 16 MiB connection windows, 1 MiB frames, 64 KiB header lists, PING after 5 s without
 * inbound traffic and close when 4 s pass without an answer (a peer ztunnel that died silently is
 * noticed within 9 s, and the connections relayed for it closed), TLS 1.3 only.
 *
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
    Duration drainTimeout,
    boolean tls12Enabled,
    TlsProvider tlsProvider) {

  public HboneServerConfig {
    Http2Tuning.check(streamWindowSize, connectionWindowSize, maxFrameSize);
    if (maxConcurrentStreams < 1) {
      throw new IllegalArgumentException("maxConcurrentStreams must be >= 1");
    }
    Objects.requireNonNull(pingInterval, "pingInterval");
    Objects.requireNonNull(pingTimeout, "pingTimeout");
    Objects.requireNonNull(handshakeTimeout, "handshakeTimeout");
    Objects.requireNonNull(drainTimeout, "drainTimeout");
    Objects.requireNonNull(tlsProvider, "tlsProvider");
  }

  public static HboneServerConfig defaults() {
    return new HboneServerConfig(200, 4 << 20, 16 << 20, 1 << 20, 64 << 10,
        Duration.ofSeconds(5), Duration.ofSeconds(4), Duration.ofSeconds(10), Duration.ofSeconds(5),
        false, TlsProvider.AUTO);
  }

  public HboneServerConfig withKeepalive(Duration interval, Duration timeout) {
    return new HboneServerConfig(maxConcurrentStreams, streamWindowSize, connectionWindowSize, maxFrameSize,
        maxHeaderListSize, interval, timeout, handshakeTimeout, drainTimeout, tls12Enabled, tlsProvider);
  }

  public HboneServerConfig withTls12Enabled(boolean enabled) {
    return new HboneServerConfig(maxConcurrentStreams, streamWindowSize, connectionWindowSize, maxFrameSize,
        maxHeaderListSize, pingInterval, pingTimeout, handshakeTimeout, drainTimeout, enabled, tlsProvider);
  }

  public HboneServerConfig withTlsProvider(TlsProvider provider) {
    return new HboneServerConfig(maxConcurrentStreams, streamWindowSize, connectionWindowSize, maxFrameSize,
        maxHeaderListSize, pingInterval, pingTimeout, handshakeTimeout, drainTimeout, tls12Enabled, provider);
  }

  public HboneServerConfig withMaxConcurrentStreams(int max) {
    return new HboneServerConfig(max, streamWindowSize, connectionWindowSize, maxFrameSize,
        maxHeaderListSize, pingInterval, pingTimeout, handshakeTimeout, drainTimeout, tls12Enabled, tlsProvider);
  }

  public HboneServerConfig withDrainTimeout(Duration timeout) {
    return new HboneServerConfig(maxConcurrentStreams, streamWindowSize, connectionWindowSize, maxFrameSize,
        maxHeaderListSize, pingInterval, pingTimeout, handshakeTimeout, timeout, tls12Enabled, tlsProvider);
  }
}
