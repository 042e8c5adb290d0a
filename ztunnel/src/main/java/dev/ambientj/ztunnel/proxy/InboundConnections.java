package dev.ambientj.ztunnel.proxy;

import java.net.InetSocketAddress;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Live inbound connections by the address ztunnel's upstream socket has as seen from the app, with
 * the peer identity proven over mTLS. Lets a local app (the demo's echo backend) ask "who is this
 * client", as an app behind a sidecar reads XFCC; later, policy re-checks walk it.
 */
public final class InboundConnections {
  private final Map<InetSocketAddress, String> byAppSideAddress = new ConcurrentHashMap<>();

  public void register(InetSocketAddress appSideAddress, String peerIdentity) {
    if (appSideAddress != null && peerIdentity != null) {
      byAppSideAddress.put(appSideAddress, peerIdentity);
    }
  }

  public void unregister(InetSocketAddress appSideAddress) {
    if (appSideAddress != null) {
      byAppSideAddress.remove(appSideAddress);
    }
  }

  /** The identity of the live inbound connection whose upstream socket is {@code appSideAddress}. */
  public Optional<String> findPeerIdentity(InetSocketAddress appSideAddress) {
    return Optional.ofNullable(byAppSideAddress.get(appSideAddress));
  }

  public int size() {
    return byAppSideAddress.size();
  }
}
