package dev.ambientj.ztunnel.proxy;

import dev.ambientj.ztunnel.authz.TrackedConnection;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Live inbound connections by the address ztunnel's upstream socket has as seen from the app, with
 * the peer identity proven over mTLS. Lets a local app (the demo's echo backend) ask "who is this
 * client", as an app behind a sidecar reads XFCC; and every live inbound connection (15008 and
 * 15006) with its RBAC tuple, which the policy re-check walks on each snapshot.
 */
public final class InboundConnections {
  private final Map<InetSocketAddress, String> byAppSideAddress = new ConcurrentHashMap<>();
  private final Set<TrackedConnection> tracked = ConcurrentHashMap.newKeySet();

  /** Tracks a relayed connection until {@link #untrack}. */
  public void track(TrackedConnection c) {
    tracked.add(c);
  }

  public void untrack(TrackedConnection c) {
    tracked.remove(c);
  }

  /** A copy of the live tracked connections. */
  public List<TrackedConnection> tracked() {
    return List.copyOf(tracked);
  }

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
