package dev.ambientj.ztunnel.outbound;

import dev.ambientj.ztunnel.proxy.EarlyDataBuffer;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.socksx.v5.DefaultSocks5CommandResponse;
import io.netty.handler.codec.socksx.v5.DefaultSocks5InitialResponse;
import io.netty.handler.codec.socksx.v5.Socks5AddressType;
import io.netty.handler.codec.socksx.v5.Socks5AuthMethod;
import io.netty.handler.codec.socksx.v5.Socks5CommandRequest;
import io.netty.handler.codec.socksx.v5.Socks5CommandRequestDecoder;
import io.netty.handler.codec.socksx.v5.Socks5CommandStatus;
import io.netty.handler.codec.socksx.v5.Socks5CommandType;
import io.netty.handler.codec.socksx.v5.Socks5InitialRequest;
import io.netty.handler.codec.socksx.v5.Socks5InitialRequestDecoder;
import io.netty.handler.codec.socksx.v5.Socks5Message;
import io.netty.handler.codec.socksx.v5.Socks5ServerEncoder;
import io.netty.util.NetUtil;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * SOCKS5 front end of the outbound path (port 15080, as ztunnel's {@code UNSTABLE_ENABLE_SOCKS5}).
 *
 * <p>Protocol: no-auth only, CONNECT only, to an IPv4/IPv6 address or a host name. A host name is
 * resolved from the mesh ({@link SocksTargetResolver}), never through DNS. Once the outbound path has
 * connected upstream the success reply is written and the SOCKS codecs leave the pipeline; the
 * relay then owns the channel. Any other request gets the matching SOCKS error reply and a close.
 *
 * <p>Threading: everything runs on the channel's event loop. Payload the client sends while the
 * upstream connects is held by an {@link EarlyDataBuffer} and replayed into the relay.
 *
 * <p>Buffers: the decoders produce messages with no buffers; the encoder owns the replies.
 */
final class Socks5ServerHandler extends SimpleChannelInboundHandler<Socks5Message> {
  private static final Logger log = LoggerFactory.getLogger(Socks5ServerHandler.class);

  static final String ENCODER = "socks5-encoder";
  static final String DECODER = "socks5-decoder";

  /** Turns a SOCKS target into an address and starts the outbound connection. */
  interface SocksTargetResolver {
    /** An IP for {@code host} (a literal, or a mesh host name), or null if unknown. */
    InetAddress resolve(String host);

    /** Starts the outbound connection; the callback fires on the channel's event loop. */
    void connect(ChannelHandlerContext ctx, InetSocketAddress destination, String requestedHost,
        OutboundCallback callback);
  }

  private final SocksTargetResolver target;
  private boolean commandSeen;

  Socks5ServerHandler(SocksTargetResolver target) {
    this.target = target;
  }

  /** Installs encoder, initial decoder and this handler. */
  static void install(ChannelPipeline pipeline, SocksTargetResolver target) {
    pipeline.addLast(ENCODER, Socks5ServerEncoder.DEFAULT);
    pipeline.addLast(DECODER, new Socks5InitialRequestDecoder());
    pipeline.addLast(new Socks5ServerHandler(target));
  }

  @Override
  protected void channelRead0(ChannelHandlerContext ctx, Socks5Message msg) {
    if (!msg.decoderResult().isSuccess()) {
      log.debug("malformed SOCKS5 request from {}: {}", ctx.channel().remoteAddress(),
          msg.decoderResult().cause().toString());
      ctx.close();
      return;
    }
    switch (msg) {
      case Socks5InitialRequest initial -> onInitial(ctx, initial);
      case Socks5CommandRequest command -> onCommand(ctx, command);
      default -> ctx.close();
    }
  }

  private void onInitial(ChannelHandlerContext ctx, Socks5InitialRequest initial) {
    if (!initial.authMethods().contains(Socks5AuthMethod.NO_AUTH)) {
      ctx.writeAndFlush(new DefaultSocks5InitialResponse(Socks5AuthMethod.UNACCEPTED))
          .addListener(ChannelFutureListener.CLOSE);
      return;
    }
    ctx.pipeline().replace(DECODER, DECODER, new Socks5CommandRequestDecoder());
    ctx.writeAndFlush(new DefaultSocks5InitialResponse(Socks5AuthMethod.NO_AUTH));
  }

  private void onCommand(ChannelHandlerContext ctx, Socks5CommandRequest command) {
    if (commandSeen) {
      ctx.close();
      return;
    }
    commandSeen = true;
    if (command.type() != Socks5CommandType.CONNECT) {
      reply(ctx, Socks5CommandStatus.COMMAND_UNSUPPORTED, true);
      return;
    }
    InetAddress address;
    String requestedHost = null;
    if (command.dstAddrType() == Socks5AddressType.DOMAIN) {
      requestedHost = command.dstAddr();
      address = target.resolve(requestedHost);
      if (address == null) {
        log.debug("SOCKS5 {}: unknown host {}", ctx.channel().remoteAddress(), requestedHost);
        reply(ctx, Socks5CommandStatus.HOST_UNREACHABLE, true);
        return;
      }
    } else {
      byte[] raw = NetUtil.createByteArrayFromIpAddressString(command.dstAddr());
      try {
        address = raw == null ? null : InetAddress.getByAddress(raw);
      } catch (UnknownHostException e) {
        address = null;
      }
      if (address == null) {
        reply(ctx, Socks5CommandStatus.ADDRESS_UNSUPPORTED, true);
        return;
      }
    }
    // Bytes after the request (and a half-close) are held until the relay takes over.
    EarlyDataBuffer.installBefore(ctx.channel(), ctx.name());
    InetSocketAddress destination = new InetSocketAddress(address, command.dstPort());
    target.connect(ctx, destination, requestedHost, new OutboundCallback() {
      @Override
      public void onConnected() {
        reply(ctx, Socks5CommandStatus.SUCCESS, false);
        ctx.pipeline().remove(DECODER);
        ctx.pipeline().remove(ENCODER);
        ctx.pipeline().remove(Socks5ServerHandler.this);
      }

      @Override
      public void onFailed(Failure failure, String message) {
        reply(ctx, switch (failure) {
          case REFUSED -> Socks5CommandStatus.FORBIDDEN;
          case UNKNOWN_HOST -> Socks5CommandStatus.HOST_UNREACHABLE;
          case CONNECT_FAILED -> Socks5CommandStatus.CONNECTION_REFUSED;
        }, true);
      }
    });
  }

  private static void reply(ChannelHandlerContext ctx, Socks5CommandStatus status, boolean close) {
    InetSocketAddress local = ctx.channel().localAddress() instanceof InetSocketAddress a ? a : null;
    Socks5AddressType type = local != null && local.getAddress() instanceof Inet6Address
        ? Socks5AddressType.IPv6 : Socks5AddressType.IPv4;
    String bindHost = local == null ? "0.0.0.0" : local.getAddress().getHostAddress();
    int bindPort = local == null ? 0 : local.getPort();
    var write = ctx.writeAndFlush(new DefaultSocks5CommandResponse(status, type, bindHost, bindPort));
    if (close) {
      write.addListener(ChannelFutureListener.CLOSE);
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    log.debug("SOCKS5 connection from {} failed", ctx.channel().remoteAddress(), cause);
    ctx.close();
  }
}
