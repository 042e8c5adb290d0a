package dev.ambientj.config.authz;

import java.net.InetAddress;
import java.net.UnknownHostException;

/** An IP block ({@code 10.0.0.0/8}, or a single address), parsed once. */
public record CidrBlock(byte[] network, int prefix) {

  /** @throws IllegalArgumentException naming the value when it is not an IP or CIDR */
  public static CidrBlock parse(String text) {
    String s = text.trim();
    int slash = s.indexOf('/');
    String ip = slash < 0 ? s : s.substring(0, slash);
    byte[] addr = literal(ip);
    if (addr == null) {
      throw new IllegalArgumentException("\"" + text + "\" is not an IP address or CIDR block");
    }
    int bits = addr.length * 8;
    int prefix = bits;
    if (slash >= 0) {
      try {
        prefix = Integer.parseInt(s.substring(slash + 1));
      } catch (NumberFormatException e) {
        prefix = -1;
      }
      if (prefix < 0 || prefix > bits) {
        throw new IllegalArgumentException("\"" + text + "\": prefix length must be 0.." + bits);
      }
    }
    return new CidrBlock(addr, prefix);
  }

  public boolean contains(InetAddress address) {
    if (address == null) {
      return false;
    }
    byte[] a = address.getAddress();
    if (a.length != network.length) {
      if (a.length == 16 && network.length == 4 && isV4Mapped(a)) {
        a = java.util.Arrays.copyOfRange(a, 12, 16);
      } else {
        return false;
      }
    }
    int full = prefix / 8;
    for (int i = 0; i < full; i++) {
      if (a[i] != network[i]) {
        return false;
      }
    }
    int rest = prefix % 8;
    if (rest == 0) {
      return true;
    }
    int mask = (0xff << (8 - rest)) & 0xff;
    return (a[full] & mask) == (network[full] & mask);
  }

  private static boolean isV4Mapped(byte[] a) {
    for (int i = 0; i < 10; i++) {
      if (a[i] != 0) {
        return false;
      }
    }
    return a[10] == (byte) 0xff && a[11] == (byte) 0xff;
  }

  /** The bytes of an IP literal, or null; never resolves a name. */
  static byte[] literal(String ip) {
    boolean v4 = ip.matches("[0-9]{1,3}(\\.[0-9]{1,3}){3}");
    boolean v6 = ip.indexOf(':') >= 0 && ip.matches("[0-9a-fA-F:.]+");
    if (!v4 && !v6) {
      return null;
    }
    try {
      return InetAddress.getByName(ip).getAddress();
    } catch (UnknownHostException e) {
      return null;
    }
  }
}
