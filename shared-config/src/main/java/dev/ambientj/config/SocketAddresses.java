package dev.ambientj.config;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;

/** The one parser of the {@code ADDR:PORT} values the subcommands take ({@code --listen}, {@code --xds}). */
public final class SocketAddresses {
  private SocketAddresses() {}

  /**
   * Parses {@code ADDR:PORT} ({@code [v6]:port} for IPv6; an empty address is loopback).
   *
   * @param minPort 0 where "any free port" makes sense (a listener), 1 for a server to dial
   * @throws IllegalArgumentException naming the value and what was expected
   */
  public static InetSocketAddress parse(String value, int minPort) {
    int colon = value.lastIndexOf(':');
    if (colon < 0) {
      throw new IllegalArgumentException(value + ": expected ADDR:PORT, e.g. 127.0.0.1:15010");
    }
    String host = value.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    int port;
    try {
      port = Integer.parseInt(value.substring(colon + 1));
    } catch (NumberFormatException e) {
      port = -1;
    }
    if (port < minPort || port > 65535) {
      throw new IllegalArgumentException(value + ": the port must be " + minPort + "..65535");
    }
    try {
      return new InetSocketAddress(
          host.isEmpty() ? InetAddress.getLoopbackAddress() : InetAddress.getByName(host), port);
    } catch (UnknownHostException e) {
      throw new IllegalArgumentException(value + ": unknown host '" + host + "'");
    }
  }
}
