package dev.ambientj.hbone;

import dev.ambientj.hbone.identity.SpiffeId;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Where and as whom to open an HBONE CONNECT.
 *
 * @param source the identity whose certificate the client presents
 * @param expectedPeers the identities the next hop may present; any other is refused during the
 *     handshake, before a request is sent
 * @param nextHop the HBONE endpoint (pod or waypoint IP, port 15008)
 * @param authority the {@code :authority} of the CONNECT (e.g. {@code 10.0.0.5:8080})
 * @param headers extra request headers ({@code baggage}, {@code forwarded}, {@code traceparent},
 *     ...), names in lower case
 */
public record ConnectTarget(
    SpiffeId source,
    Set<SpiffeId> expectedPeers,
    InetSocketAddress nextHop,
    String authority,
    Map<String, String> headers) {

  public ConnectTarget {
    Objects.requireNonNull(source, "source");
    Objects.requireNonNull(nextHop, "nextHop");
    Objects.requireNonNull(authority, "authority");
    expectedPeers = Set.copyOf(expectedPeers);
    if (expectedPeers.isEmpty()) {
      throw new IllegalArgumentException("expectedPeers is empty: an HBONE peer must be verified against at least one identity");
    }
    headers = headers == null ? Map.of() : Map.copyOf(headers);
  }

  public ConnectTarget(SpiffeId source, Set<SpiffeId> expectedPeers, InetSocketAddress nextHop, String authority) {
    this(source, expectedPeers, nextHop, authority, Map.of());
  }
}
