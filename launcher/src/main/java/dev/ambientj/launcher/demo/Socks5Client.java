package dev.ambientj.launcher.demo;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * A tiny blocking SOCKS5 client (no-auth CONNECT, RFC 1928), as {@code curl --socks5-hostname}
 * speaks it: the demo and the integration tests drive ztunnel's 15080 with it.
 */
public final class Socks5Client {
  private Socks5Client() {}

  /** A SOCKS5 reply other than "succeeded". */
  public static final class Socks5Exception extends IOException {
    private final int reply;

    Socks5Exception(int reply) {
      super("SOCKS5 proxy answered " + reply + " (" + describe(reply) + ")");
      this.reply = reply;
    }

    /** The reply code (1 general failure, 2 not allowed, 4 host unreachable, 5 refused…). */
    public int reply() {
      return reply;
    }
  }

  /**
   * Connects through {@code proxy} to {@code host:port} ({@code host} sent as a domain name, as
   * socks5-hostname does, or as an IPv4 address when it is one) and returns the connected socket.
   */
  public static Socket connect(InetSocketAddress proxy, String host, int port, Duration timeout)
      throws IOException {
    return connect(proxy, host, port, timeout, 0);
  }

  /**
   * As {@link #connect(InetSocketAddress, String, int, Duration)}, with the socket's receive buffer
   * set to {@code receiveBufferBytes} before it connects (0: the system's), as a client with a
   * small buffer has it from its SYN on.
   */
  public static Socket connect(InetSocketAddress proxy, String host, int port, Duration timeout,
      int receiveBufferBytes) throws IOException {
    return connect(proxy, host, port, timeout, receiveBufferBytes, null);
  }

  /**
   * As {@link #connect(InetSocketAddress, String, int, Duration, int)}, from {@code localAddress}
   * (null: any), as a pod whose address ztunnel then reports as the source.
   */
  public static Socket connect(InetSocketAddress proxy, String host, int port, Duration timeout,
      int receiveBufferBytes, java.net.InetAddress localAddress) throws IOException {
    Socket s = new Socket();
    if (receiveBufferBytes > 0) {
      s.setReceiveBufferSize(receiveBufferBytes);
    }
    try {
      if (localAddress != null) {
        s.bind(new InetSocketAddress(localAddress, 0));
      }
      s.connect(proxy, (int) timeout.toMillis());
      s.setSoTimeout((int) timeout.toMillis());
      s.setTcpNoDelay(true);
      OutputStream out = s.getOutputStream();
      DataInputStream in = new DataInputStream(s.getInputStream());
      out.write(new byte[] {5, 1, 0});
      out.flush();
      if (in.readUnsignedByte() != 5 || in.readUnsignedByte() != 0) {
        throw new IOException("SOCKS5 proxy " + proxy + " refused no-auth");
      }
      byte[] request = request(host, port);
      out.write(request);
      out.flush();
      int version = in.readUnsignedByte();
      int reply = in.readUnsignedByte();
      in.readUnsignedByte(); // reserved
      int type = in.readUnsignedByte();
      skipAddress(in, type);
      in.readUnsignedShort();
      if (version != 5) {
        throw new IOException("not a SOCKS5 reply from " + proxy);
      }
      if (reply != 0) {
        throw new Socks5Exception(reply);
      }
      return s;
    } catch (IOException | RuntimeException e) {
      s.close();
      throw e;
    }
  }

  /**
   * Sends one HTTP/1.1 GET through {@code proxy} and returns the response body (whole response
   * on a non-200 status line prefixed with it).
   */
  public static String httpGet(InetSocketAddress proxy, String host, int port, String path,
      Duration timeout) throws IOException {
    try (Socket s = connect(proxy, host, port, timeout)) {
      OutputStream out = s.getOutputStream();
      out.write(("GET " + path + " HTTP/1.1\r\nHost: " + host + ":" + port
          + "\r\nUser-Agent: ambientj-demo\r\nConnection: close\r\n\r\n")
          .getBytes(StandardCharsets.US_ASCII));
      out.flush();
      String response = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      int end = response.indexOf("\r\n\r\n");
      if (!response.startsWith("HTTP/1.1 200") || end < 0) {
        throw new IOException("unexpected HTTP response: "
            + response.lines().findFirst().orElse("(empty)"));
      }
      return response.substring(end + 4);
    }
  }

  private static byte[] request(String host, int port) {
    byte[] ipv4 = parseIpv4(host);
    if (ipv4 != null) {
      return new byte[] {5, 1, 0, 1, ipv4[0], ipv4[1], ipv4[2], ipv4[3],
          (byte) (port >> 8), (byte) port};
    }
    byte[] name = host.getBytes(StandardCharsets.US_ASCII);
    byte[] r = new byte[7 + name.length];
    r[0] = 5;
    r[1] = 1;
    r[3] = 3;
    r[4] = (byte) name.length;
    System.arraycopy(name, 0, r, 5, name.length);
    r[5 + name.length] = (byte) (port >> 8);
    r[6 + name.length] = (byte) port;
    return r;
  }

  private static byte[] parseIpv4(String host) {
    String[] parts = host.split("\\.");
    if (parts.length != 4) {
      return null;
    }
    byte[] out = new byte[4];
    for (int i = 0; i < 4; i++) {
      if (parts[i].isEmpty() || parts[i].length() > 3 || !parts[i].chars().allMatch(Character::isDigit)) {
        return null;
      }
      int v = Integer.parseInt(parts[i]);
      if (v > 255) {
        return null;
      }
      out[i] = (byte) v;
    }
    return out;
  }

  private static void skipAddress(DataInputStream in, int type) throws IOException {
    int n = switch (type) {
      case 1 -> 4;
      case 4 -> 16;
      case 3 -> in.readUnsignedByte();
      default -> throw new IOException("bad SOCKS5 address type " + type);
    };
    in.readNBytes(n);
  }

  static String describe(int reply) {
    return switch (reply) {
      case 1 -> "general failure";
      case 2 -> "connection not allowed by ruleset";
      case 3 -> "network unreachable";
      case 4 -> "host unreachable";
      case 5 -> "connection refused";
      case 6 -> "TTL expired";
      case 7 -> "command not supported";
      case 8 -> "address type not supported";
      default -> "unknown";
    };
  }

}
