package dev.ambientj.config.authz;

import io.netty.util.NetUtil;
import java.net.InetAddress;

/**
 * An IP block of an AuthorizationPolicy ({@code 10.0.0.0/8}, {@code fd00::/8}, or a single
 * address), parsed once. The one CIDR type of both proxies: ztunnel's and the waypoint's policies,
 * and the translator's check of {@code ipBlocks} ({@link #parse} is what {@code Validation} runs, so
 * a block the translator accepts always compiles here).
 *
 * <p>Parsing reads IP literals only (Netty's {@link NetUtil}): a malformed block is an error, never
 * a DNS lookup. An IPv4 block also contains the IPv4-mapped IPv6 form of its addresses.
 */
public record CidrBlock(byte[] network, int prefix) {

  /** @throws IllegalArgumentException naming the value when it is not an IP or CIDR block */
  public static CidrBlock parse(String text) {
    if (text == null) {
      throw new IllegalArgumentException("null is not an IP address or CIDR block");
    }
    String s = text.trim();
    int slash = s.indexOf('/');
    byte[] addr = NetUtil.createByteArrayFromIpAddressString(slash < 0 ? s : s.substring(0, slash));
    if (addr == null) {
      throw new IllegalArgumentException("\"" + text + "\" is not an IP address or CIDR block"
          + " (expected e.g. 10.0.0.0/16, 10.1.2.3 or fd00::/8)");
    }
    int bits = addr.length * 8;
    int prefix = bits;
    if (slash >= 0) {
      String p = s.substring(slash + 1);
      prefix = p.isEmpty() || p.length() > 3 || !p.chars().allMatch(Character::isDigit) ? -1 : Integer.parseInt(p);
      if (prefix < 0 || prefix > bits) {
        throw new IllegalArgumentException("\"" + text + "\": the prefix length must be 0.." + bits);
      }
    }
    return new CidrBlock(addr, prefix);
  }

  /** Whether {@code address} is in the block; null (no such address) never is. Allocation-free. */
  public boolean contains(InetAddress address) {
    if (address == null) {
      return false;
    }
    byte[] a = address.getAddress();
    int offset = 0;
    if (a.length != network.length) {
      if (a.length == 16 && network.length == 4 && isV4Mapped(a)) {
        offset = 12;
      } else {
        return false;
      }
    }
    int full = prefix / 8;
    for (int i = 0; i < full; i++) {
      if (a[offset + i] != network[i]) {
        return false;
      }
    }
    int rest = prefix % 8;
    if (rest == 0) {
      return true;
    }
    int mask = (0xff << (8 - rest)) & 0xff;
    return (a[offset + full] & mask) == (network[full] & mask);
  }

  private static boolean isV4Mapped(byte[] a) {
    for (int i = 0; i < 10; i++) {
      if (a[i] != 0) {
        return false;
      }
    }
    return a[10] == (byte) 0xff && a[11] == (byte) 0xff;
  }
}
