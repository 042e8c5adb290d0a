package dev.ambientj.config.authz;

import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * {@code remote.ip} at the waypoint, as Istio defines it: the client address taken from {@code
 * X-Forwarded-For} when proxies in front are trusted ({@code meshConfig.defaultConfig.
 * gatewayTopology.numTrustedProxies}, default 0). With {@code n} trusted proxies the remote address
 * is the {@code n}-th address from the right of the header (Envoy's {@code xff_num_trusted_hops});
 * with none, with a shorter header, or with an entry that is not an IP literal, it is the direct
 * client's ({@code source.ip}) — a client cannot choose its {@code remote.ip} by sending the header.
 * Never a DNS lookup.
 */
public final class ForwardedFor {
  private ForwardedFor() {}

  /**
   * The remote address for {@code xff} (the header's value, null when absent) from a client at
   * {@code direct}, trusting {@code trustedProxies} hops.
   */
  public static InetAddress remoteIp(String xff, InetAddress direct, int trustedProxies) {
    if (trustedProxies <= 0 || xff == null) {
      return direct;
    }
    int end = xff.length();
    for (int hop = 1; end > 0; hop++) {
      int comma = xff.lastIndexOf(',', end - 1);
      if (hop == trustedProxies) {
        byte[] ip = NetUtil.createByteArrayFromIpAddressString(xff.substring(comma + 1, end).trim());
        if (ip == null) {
          return direct;
        }
        try {
          return InetAddress.getByAddress(ip); // from bytes: no lookup
        } catch (UnknownHostException e) {
          return direct;
        }
      }
      end = comma;
    }
    return direct;
  }
}
