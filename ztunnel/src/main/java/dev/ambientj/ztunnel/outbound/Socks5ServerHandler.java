package dev.ambientj.ztunnel.outbound;

import dev.ambientj.ztunnel.outbound.Socks5RequestDecoder.Greeting;
import dev.ambientj.ztunnel.outbound.Socks5RequestDecoder.Malformed;
import dev.ambientj.ztunnel.outbound.Socks5RequestDecoder.Request;
import dev.ambientj.ztunnel.outbound.Socks5RequestDecoder.Socks4;
import dev.ambientj.ztunnel.proxy.EarlyDataBuffer;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.socksx.v5.DefaultSocks5CommandResponse;
import io.netty.handler.codec.socksx.v5.DefaultSocks5InitialResponse;
import io.netty.handler.codec.socksx.v5.Socks5AddressType;
import io.netty.handler.codec.socksx.v5.Socks5AuthMethod;
import io.netty.handler.codec.socksx.v5.Socks5CommandStatus;
import io.netty.handler.codec.socksx.v5.Socks5ServerEncoder;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * SOCKS5 front end of the outbound path (port 15080, as ztunnel's {@code UNSTABLE_ENABLE_SOCKS5}).
 *
 * <p>Protocol: no-auth only, CONNECT only, to an IPv4/IPv6 address or a host name. A host name is
 * resolved from the mesh ({@link SocksTargetResolver}), never through DNS. Once the outbound path has
 * connected upstream the success reply is written and the SOCKS handlers leave the pipeline; the
 * relay then owns the channel. Anything else gets the reply RFC 1928 has for it, then a close:
 * no acceptable method ({@code 05 FF}) for a greeting without "no authentication", without
 * methods or of an unknown version; command not supported (7); address type not supported (8);
 * general failure (1) for a request of another version; the SOCKS4 rejection (0x5B) for a SOCKS4
 * client ({@link Socks5RequestDecoder}).
 *
 * <p>Deadlines: greeting and request must arrive within the handshake timeout, and a client that
 * ends its output (half-close) before its request is complete is closed at once — with half-closure
 * allowed on the listener, such a socket would otherwise stay open (CLOSE-WAIT) for good. Once the
 * request is in, the outbound path's connect deadline takes over, and a half-close is held for the
 * relay (a client may send its request, its payload and FIN at once). Every client closed before
 * its request was served is counted by reason ({@code rejected}).
 *
 * <p>Threading: everything runs on the channel's event loop. Payload the client sends while the
 * upstream connects is held by an {@link EarlyDataBuffer} and replayed into the relay.
 *
 * <p>Buffers: the decoder's messages hold no buffers (a stray buffer reaching this handler is
 * released); the encoder owns the replies.
 */
final class Socks5ServerHandler extends ChannelInboundHandlerAdapter {
  private static final Logger log = LoggerFactory.getLogger(Socks5ServerHandler.class);

  static final String ENCODER = "socks5-encoder";
  static final String DECODER = "socks5-decoder";
  /** CONNECT, the one command served. */
  static final int CONNECT = 0x01;
  /** SOCKS4's reply code "request rejected or failed". */
  private static final int SOCKS4_REJECTED = 0x5B;

  /** Turns a SOCKS target into an address and starts the outbound connection. */
  interface SocksTargetResolver {
    /** An IP for {@code host} (a literal, or a mesh host name), or null if unknown. */
    InetAddress resolve(String host);

    /** Starts the outbound connection; the callback fires on the channel's event loop. */
    void connect(ChannelHandlerContext ctx, InetSocketAddress destination, String requestedHost,
        OutboundCallback callback);
  }

  private final SocksTargetResolver target;
  private final Duration handshakeTimeout;
  private final Consumer<String> rejected;
  private ScheduledFuture<?> deadline;
  private boolean requestSeen;
  private boolean done;

  private Socks5ServerHandler(SocksTargetResolver target, Duration handshakeTimeout,
      Consumer<String> rejected) {
    this.target = target;
    this.handshakeTimeout = handshakeTimeout;
    this.rejected = rejected;
  }

  /**
   * Installs encoder, decoder and this handler. {@code rejected} is told the reason of every
   * client closed before its request was served (a {@link Malformed} reason, {@code timeout},
   * {@code half_closed}, {@code no_acceptable_method} or {@code command}).
   */
  static void install(ChannelPipeline pipeline, SocksTargetResolver target,
      Duration handshakeTimeout, Consumer<String> rejected) {
    pipeline.addLast(ENCODER, Socks5ServerEncoder.DEFAULT);
    pipeline.addLast(DECODER, new Socks5RequestDecoder());
    pipeline.addLast(new Socks5ServerHandler(target, handshakeTimeout, rejected));
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    if (ctx.channel().isActive()) {
      startDeadline(ctx);
    }
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    startDeadline(ctx);
    ctx.fireChannelActive();
  }

  private void startDeadline(ChannelHandlerContext ctx) {
    if (deadline == null && !requestSeen) {
      deadline = ctx.executor().schedule(() -> {
        if (!requestSeen && ctx.channel().isOpen()) {
          reject(ctx, "timeout", "no complete SOCKS5 request within "
              + handshakeTimeout.toMillis() + " ms");
          ctx.close();
        }
      }, handshakeTimeout.toNanos(), TimeUnit.NANOSECONDS);
    }
  }

  private void stopDeadline() {
    if (deadline != null) {
      deadline.cancel(false);
    }
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    stopDeadline();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    stopDeadline();
    ctx.fireChannelInactive();
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt instanceof ChannelInputShutdownEvent && !requestSeen && !done) {
      reject(ctx, "half_closed", "client ended its output before its request was complete");
      ctx.close();
      return;
    }
    ctx.fireUserEventTriggered(evt);
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (done) {
      ReferenceCountUtil.release(msg);
      return;
    }
    switch (msg) {
      case Greeting g -> onGreeting(ctx, g);
      case Request r -> onRequest(ctx, r);
      case Malformed m -> onMalformed(ctx, m);
      case Socks4 s -> {
        reject(ctx, Socks4.REASON, "a SOCKS4 request (only SOCKS5 is served)");
        ctx.writeAndFlush(Unpooled.buffer(8).writeByte(0).writeByte(SOCKS4_REJECTED)
            .writeBytes(s.destination())).addListener(ChannelFutureListener.CLOSE);
      }
      default -> ReferenceCountUtil.release(msg); // the decoder passes bytes only after a request
    }
  }

  private void onGreeting(ChannelHandlerContext ctx, Greeting greeting) {
    if (!greeting.offersNoAuth()) {
      reject(ctx, "no_acceptable_method", "no offered authentication method is supported");
      ctx.writeAndFlush(new DefaultSocks5InitialResponse(Socks5AuthMethod.UNACCEPTED))
          .addListener(ChannelFutureListener.CLOSE);
      return;
    }
    ctx.writeAndFlush(new DefaultSocks5InitialResponse(Socks5AuthMethod.NO_AUTH));
  }

  private void onMalformed(ChannelHandlerContext ctx, Malformed malformed) {
    reject(ctx, malformed.reason, malformed.description);
    Object reply = switch (malformed) {
      case VERSION, NO_METHODS -> new DefaultSocks5InitialResponse(Socks5AuthMethod.UNACCEPTED);
      case REQUEST_VERSION, ADDRESS_TYPE -> commandResponse(ctx, malformed.status());
    };
    ctx.writeAndFlush(reply).addListener(ChannelFutureListener.CLOSE);
  }

  private void onRequest(ChannelHandlerContext ctx, Request request) {
    requestSeen = true;
    stopDeadline();
    if (request.command() != CONNECT) {
      reject(ctx, "command", "command " + request.command() + " is not supported (CONNECT only)");
      reply(ctx, Socks5CommandStatus.COMMAND_UNSUPPORTED, true);
      return;
    }
    InetAddress address = request.address();
    if (request.host() != null) {
      address = target.resolve(request.host());
      if (address == null) {
        log.debug("SOCKS5 {}: unknown host {}", ctx.channel().remoteAddress(), request.host());
        reply(ctx, Socks5CommandStatus.HOST_UNREACHABLE, true);
        return;
      }
    }
    // Bytes after the request (and a half-close) are held until the relay takes over.
    EarlyDataBuffer.installBefore(ctx.channel(), ctx.name());
    InetSocketAddress destination = new InetSocketAddress(address, request.port());
    target.connect(ctx, destination, request.host(), new OutboundCallback() {
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
          case UNKNOWN_HOST, TIMED_OUT -> Socks5CommandStatus.HOST_UNREACHABLE;
          case CONNECT_FAILED -> Socks5CommandStatus.CONNECTION_REFUSED;
          case OVERLOADED -> Socks5CommandStatus.FAILURE;
        }, true);
      }
    });
  }

  /** Counts and logs a client closed before its request was served; its reply follows. */
  private void reject(ChannelHandlerContext ctx, String reason, String description) {
    done = true;
    stopDeadline();
    rejected.accept(reason);
    log.debug("SOCKS5 client {} closed: {}", ctx.channel().remoteAddress(), description);
  }

  private static void reply(ChannelHandlerContext ctx, Socks5CommandStatus status, boolean close) {
    var write = ctx.writeAndFlush(commandResponse(ctx, status));
    if (close) {
      write.addListener(ChannelFutureListener.CLOSE);
    }
  }

  /** A command reply with this listener's address as BND.ADDR/BND.PORT. */
  private static DefaultSocks5CommandResponse commandResponse(ChannelHandlerContext ctx,
      Socks5CommandStatus status) {
    InetSocketAddress local = ctx.channel().localAddress() instanceof InetSocketAddress a ? a : null;
    Socks5AddressType type = local != null && local.getAddress() instanceof Inet6Address
        ? Socks5AddressType.IPv6 : Socks5AddressType.IPv4;
    String bindHost = local == null ? "0.0.0.0" : local.getAddress().getHostAddress();
    int bindPort = local == null ? 0 : local.getPort();
    return new DefaultSocks5CommandResponse(status, type, bindHost, bindPort);
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    log.debug("SOCKS5 connection from {} failed", ctx.channel().remoteAddress(), cause);
    ctx.close();
  }
}
