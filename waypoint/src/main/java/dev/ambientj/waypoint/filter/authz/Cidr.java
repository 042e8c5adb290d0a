package dev.ambientj.waypoint.filter.authz;

import java.net.InetAddress;
import java.net.UnknownHostException;

/** An address block ({@code 10.0.0.0/8}, or a single address). */
record Cidr(byte[] network, int bits) {
  static Cidr parse(String s) {
    int slash = s.indexOf('/');
    String ip = slash < 0 ? s : s.substring(0, slash);
    if (!ip.matches("[0-9a-fA-F:.]+")) {
      throw new IllegalArgumentException("\"" + s + "\" is not an IP address or CIDR block");
    }
    try {
      byte[] addr = InetAddress.getByName(ip).getAddress();
      int bits = slash < 0 ? addr.length * 8 : Integer.parseInt(s.substring(slash + 1));
      if (bits < 0 || bits > addr.length * 8) {
        throw new IllegalArgumentException("\"" + s + "\" has an invalid prefix length");
      }
      return new Cidr(addr, bits);
    } catch (UnknownHostException | NumberFormatException e) {
      throw new IllegalArgumentException("\"" + s + "\" is not an IP address or CIDR block");
    }
  }

  boolean contains(InetAddress a) {
    if (a == null) {
      return false;
    }
    byte[] b = a.getAddress();
    if (b.length != network.length) {
      return false;
    }
    int full = bits / 8;
    for (int i = 0; i < full; i++) {
      if (b[i] != network[i]) {
        return false;
      }
    }
    int rest = bits % 8;
    if (rest == 0) {
      return true;
    }
    int mask = (0xff << (8 - rest)) & 0xff;
    return (b[full] & mask) == (network[full] & mask);
  }
}
