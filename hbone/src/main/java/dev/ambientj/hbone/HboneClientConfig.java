package dev.ambientj.hbone;

import java.time.Duration;
import java.util.Objects;

/**
 * Client (pool) settings. {@link #defaults()} follows ztunnel: at most 100 streams per connection
 * (or fewer if the server says so), 4 MiB stream / 16 MiB connection windows, 1 MiB frames,
 * 16 KiB header lists, 10 s TCP connect timeout, idle connections closed after 5 minutes, TLS 1.3
 * only.
 *
 * @param responseTimeout how long to wait for the CONNECT response once the stream is open (the
 *     server connects upstream first, with its own 10 s timeout)
 */
public record HboneClientConfig(
    int maxStreamsPerConnection,
    int streamWindowSize,
    int connectionWindowSize,
    int maxFrameSize,
    int maxHeaderListSize,
    Duration connectTimeout,
    Duration handshakeTimeout,
    Duration responseTimeout,
    Duration idleTimeout,
    boolean tls12Enabled,
    TlsProvider tlsProvider) {

  public HboneClientConfig {
    Http2Tuning.check(streamWindowSize, connectionWindowSize, maxFrameSize);
    if (maxStreamsPerConnection < 1) {
      throw new IllegalArgumentException("maxStreamsPerConnection must be >= 1");
    }
    Objects.requireNonNull(connectTimeout, "connectTimeout");
    Objects.requireNonNull(handshakeTimeout, "handshakeTimeout");
    Objects.requireNonNull(responseTimeout, "responseTimeout");
    Objects.requireNonNull(idleTimeout, "idleTimeout");
    Objects.requireNonNull(tlsProvider, "tlsProvider");
  }

  public static HboneClientConfig defaults() {
    return new HboneClientConfig(100, 4 << 20, 16 << 20, 1 << 20, 16 << 10,
        Duration.ofSeconds(10), Duration.ofSeconds(10), Duration.ofSeconds(15), Duration.ofMinutes(5),
        false, TlsProvider.AUTO);
  }

  public HboneClientConfig withMaxStreamsPerConnection(int max) {
    return new HboneClientConfig(max, streamWindowSize, connectionWindowSize, maxFrameSize, maxHeaderListSize,
        connectTimeout, handshakeTimeout, responseTimeout, idleTimeout, tls12Enabled, tlsProvider);
  }

  public HboneClientConfig withIdleTimeout(Duration idle) {
    return new HboneClientConfig(maxStreamsPerConnection, streamWindowSize, connectionWindowSize, maxFrameSize,
        maxHeaderListSize, connectTimeout, handshakeTimeout, responseTimeout, idle, tls12Enabled, tlsProvider);
  }

  public HboneClientConfig withConnectTimeout(Duration timeout) {
    return new HboneClientConfig(maxStreamsPerConnection, streamWindowSize, connectionWindowSize, maxFrameSize,
        maxHeaderListSize, timeout, handshakeTimeout, responseTimeout, idleTimeout, tls12Enabled, tlsProvider);
  }

  public HboneClientConfig withTls12Enabled(boolean enabled) {
    return new HboneClientConfig(maxStreamsPerConnection, streamWindowSize, connectionWindowSize, maxFrameSize,
        maxHeaderListSize, connectTimeout, handshakeTimeout, responseTimeout, idleTimeout, enabled, tlsProvider);
  }

  public HboneClientConfig withTlsProvider(TlsProvider provider) {
    return new HboneClientConfig(maxStreamsPerConnection, streamWindowSize, connectionWindowSize, maxFrameSize,
        maxHeaderListSize, connectTimeout, handshakeTimeout, responseTimeout, idleTimeout, tls12Enabled, provider);
  }
}
