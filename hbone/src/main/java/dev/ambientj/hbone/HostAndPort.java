package dev.ambientj.hbone;

import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.util.Objects;

/**
 * A CONNECT target as written in {@code :authority}: {@code ip:port}, {@code [v6]:port} or
 * {@code hostname:port}. The port is mandatory (ztunnel answers 400 without one).
 */
public record HostAndPort(String host, int port) {

  public HostAndPort {
    Objects.requireNonNull(host, "host");
    if (host.isEmpty()) {
      throw new IllegalArgumentException("empty host");
    }
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("port " + port + " out of range (expected 1..65535)");
    }
  }

  /**
   * Parses an authority.
   *
   * @throws IllegalArgumentException saying what is wrong (missing port, bad port, empty host)
   */
  public static HostAndPort parse(String authority) {
    if (authority == null || authority.isEmpty()) {
      throw new IllegalArgumentException("missing :authority (expected host:port)");
    }
    String host;
    String portText;
    if (authority.startsWith("[")) {
      int close = authority.indexOf(']');
      if (close < 0) {
        throw new IllegalArgumentException("authority '" + authority + "': unterminated IPv6 literal");
      }
      host = authority.substring(1, close);
      if (!NetUtil.isValidIpV6Address(host)) {
        throw new IllegalArgumentException("authority '" + authority + "': '" + host + "' is not an IPv6 address");
      }
      if (close + 1 >= authority.length() || authority.charAt(close + 1) != ':') {
        throw new IllegalArgumentException("authority '" + authority + "' has no port (expected [ip]:port)");
      }
      portText = authority.substring(close + 2);
    } else {
      int colon = authority.lastIndexOf(':');
      if (colon < 0) {
        throw new IllegalArgumentException("authority '" + authority + "' has no port (expected host:port)");
      }
      host = authority.substring(0, colon);
      if (host.indexOf(':') >= 0) {
        throw new IllegalArgumentException("authority '" + authority + "': IPv6 addresses must be bracketed, as [ip]:port");
      }
      portText = authority.substring(colon + 1);
    }
    if (host.isEmpty()) {
      throw new IllegalArgumentException("authority '" + authority + "' has an empty host");
    }
    if (portText.isEmpty() || portText.length() > 5 || !portText.chars().allMatch(c -> c >= '0' && c <= '9')) {
      throw new IllegalArgumentException("authority '" + authority + "': port '" + portText + "' is not a number 1..65535");
    }
    int port = Integer.parseInt(portText);
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("authority '" + authority + "': port " + port + " out of range (expected 1..65535)");
    }
    return new HostAndPort(host, port);
  }

  /** Whether the host is an IPv4 or IPv6 literal (as opposed to a hostname). */
  public boolean isIpLiteral() {
    return NetUtil.isValidIpV4Address(host) || NetUtil.isValidIpV6Address(host);
  }

  /** The host as an address without any DNS lookup, or {@code null} for a hostname. */
  public InetAddress ipAddress() {
    return isIpLiteral() ? NetUtil.createInetAddressFromIpAddressString(host) : null;
  }

  @Override
  public String toString() {
    return host.indexOf(':') >= 0 ? "[" + host + "]:" + port : host + ":" + port;
  }
}
