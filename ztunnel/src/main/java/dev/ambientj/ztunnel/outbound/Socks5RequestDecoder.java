package dev.ambientj.ztunnel.outbound;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.socksx.v5.Socks5CommandStatus;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Decodes what a SOCKS5 client sends before its connection is relayed (RFC 1928): the greeting
 * ({@code VER NMETHODS METHODS}) and the request ({@code VER CMD RSV ATYP DST.ADDR DST.PORT}).
 *
 * <p>Why our own decoder and not Netty's {@code Socks5InitialRequestDecoder}: Netty's turns every
 * malformed input into one generic failure, so a SOCKS4 client, a greeting with no methods and an
 * unknown address type all looked alike and got a silent close. Here each gets its own
 * {@link Malformed} verdict, which says what to answer (RFC 1928's reply codes), and a SOCKS4
 * client gets a {@link Socks4} verdict: a SOCKS4 rejection is the only reply it can read.
 *
 * <p>States: greeting → request → passing bytes through; or failed, after a verdict or a greeting
 * without "no authentication" (the handler answers and closes; later bytes are dropped).
 * A client may send greeting, request and payload at once: the payload that follows the request
 * is passed on as it is, for the relay.
 *
 * <p>Buffers: decoded messages hold no buffers; payload after the request is passed on as
 * retained slices, owned by the next handler.
 */
final class Socks5RequestDecoder extends ByteToMessageDecoder {
  static final int VERSION = 5;
  static final int SOCKS4 = 4;
  static final int NO_AUTH = 0x00;
  static final int ATYP_IPV4 = 0x01;
  static final int ATYP_DOMAIN = 0x03;
  static final int ATYP_IPV6 = 0x04;

  /** The greeting: whether the client offers "no authentication required". */
  record Greeting(boolean offersNoAuth) {}

  /**
   * A complete request. {@code address} is set for IPv4/IPv6 targets, {@code host} for a domain
   * name (not resolved here).
   */
  record Request(int command, InetAddress address, String host, int port) {}

  /**
   * A SOCKS4 request (only SOCKS5 is served): answered with SOCKS4's "request rejected or failed"
   * (0x5B), echoing its {@code DSTPORT DSTIP} (6 bytes), which clients print.
   */
  record Socks4(byte[] destination) {
    static final String REASON = "socks4";
  }

  /** What cannot be served, and the reply it gets before the close. */
  enum Malformed {
    /** A greeting of another version: answered {@code 05 FF}, no acceptable method. */
    VERSION("version", "an unknown SOCKS version"),
    /** A greeting that lists no method ({@code NMETHODS} 0): {@code 05 FF}. */
    NO_METHODS("no_methods", "a greeting without authentication methods"),
    /** A request whose version is not 5: general failure (0x01). */
    REQUEST_VERSION("request_version", "a request of another SOCKS version"),
    /** An address type other than IPv4, domain name, IPv6: 0x08. */
    ADDRESS_TYPE("address_type", "an unsupported address type");

    final String reason;
    final String description;

    Malformed(String reason, String description) {
      this.reason = reason;
      this.description = description;
    }

    /** The SOCKS5 reply status for a malformed request (greeting-stage verdicts have none). */
    Socks5CommandStatus status() {
      return this == ADDRESS_TYPE ? Socks5CommandStatus.ADDRESS_UNSUPPORTED
          : Socks5CommandStatus.FAILURE;
    }
  }

  private enum State { GREETING, REQUEST, PASS_THROUGH, FAILED }

  private State state = State.GREETING;

  @Override
  protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
    switch (state) {
      case GREETING -> decodeGreeting(in, out);
      case REQUEST -> decodeRequest(in, out);
      case PASS_THROUGH -> out.add(in.readRetainedSlice(in.readableBytes()));
      case FAILED -> in.skipBytes(in.readableBytes());
    }
  }

  private void decodeGreeting(ByteBuf in, List<Object> out) {
    int start = in.readerIndex();
    int version = in.getUnsignedByte(start);
    if (version == SOCKS4) {
      if (in.readableBytes() >= 8) { // VN CD DSTPORT DSTIP, then a user id we need not wait for
        byte[] destination = new byte[6];
        in.getBytes(start + 2, destination);
        in.skipBytes(in.readableBytes());
        state = State.FAILED;
        out.add(new Socks4(destination));
      }
      return;
    }
    if (version != VERSION) {
      fail(in, out, Malformed.VERSION);
      return;
    }
    if (in.readableBytes() < 2) {
      return;
    }
    int methods = in.getUnsignedByte(start + 1);
    if (methods == 0) {
      fail(in, out, Malformed.NO_METHODS);
      return;
    }
    if (in.readableBytes() < 2 + methods) {
      return;
    }
    boolean noAuth = false;
    for (int i = 0; i < methods; i++) {
      noAuth |= in.getUnsignedByte(start + 2 + i) == NO_AUTH;
    }
    in.skipBytes(2 + methods);
    state = noAuth ? State.REQUEST : State.FAILED;
    out.add(new Greeting(noAuth));
  }

  private void decodeRequest(ByteBuf in, List<Object> out) {
    int start = in.readerIndex();
    if (in.getUnsignedByte(start) != VERSION) {
      fail(in, out, Malformed.REQUEST_VERSION);
      return;
    }
    if (in.readableBytes() < 5) {
      return;
    }
    int command = in.getUnsignedByte(start + 1);
    int type = in.getUnsignedByte(start + 3);
    int addressLength = switch (type) {
      case ATYP_IPV4 -> 4;
      case ATYP_IPV6 -> 16;
      case ATYP_DOMAIN -> 1 + in.getUnsignedByte(start + 4);
      default -> -1;
    };
    if (addressLength < 0) {
      fail(in, out, Malformed.ADDRESS_TYPE);
      return;
    }
    if (in.readableBytes() < 4 + addressLength + 2) {
      return;
    }
    InetAddress address = null;
    String host = null;
    if (type == ATYP_DOMAIN) {
      host = in.toString(start + 5, addressLength - 1, StandardCharsets.US_ASCII);
    } else {
      byte[] raw = new byte[addressLength];
      in.getBytes(start + 4, raw);
      try {
        address = InetAddress.getByAddress(raw);
      } catch (UnknownHostException e) {
        throw new IllegalStateException("4 or 16 bytes are an IP address", e);
      }
    }
    int port = in.getUnsignedShort(start + 4 + addressLength);
    in.skipBytes(4 + addressLength + 2);
    state = State.PASS_THROUGH;
    out.add(new Request(command, address, host, port));
  }

  private void fail(ByteBuf in, List<Object> out, Malformed verdict) {
    in.skipBytes(in.readableBytes());
    state = State.FAILED;
    out.add(verdict);
  }
}
