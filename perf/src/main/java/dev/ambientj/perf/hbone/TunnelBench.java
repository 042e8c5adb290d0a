package dev.ambientj.perf.hbone;

import dev.ambientj.hbone.ConnectTarget;
import dev.ambientj.hbone.HboneClient;
import dev.ambientj.hbone.HboneClientConfig;
import dev.ambientj.hbone.HboneServer;
import dev.ambientj.hbone.HboneServerConfig;
import dev.ambientj.hbone.Relay;
import dev.ambientj.hbone.TlsProvider;
import dev.ambientj.hbone.identity.IdentityProvider;
import dev.ambientj.hbone.identity.LocalCertificateAuthority;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.hbone.transport.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * A loopback topology for the benchmarks: an HBONE server whose handler dials the CONNECT target
 * and relays (as ztunnel's inbound does), an HBONE client, and two plain TCP backends — an echo
 * and a discard. The "direct" path dials a backend with plain TCP, the "tunnel" path reaches the
 * same backend through client → mTLS/HTTP/2 → server → relay.
 */
final class TunnelBench implements AutoCloseable {

  /**
   * Netty settings ztunnel runs with (launcher/src/main/sh/mesh-jvm-defaults), for the benchmarks'
   * forks: allocation per operation is measured as shipped.
   */
  static final String POOLED_ALLOCATOR = "-Dio.netty.allocator.type=pooled";
  static final String ONE_MIB_CHUNKS = "-Dio.netty.allocator.maxOrder=7";
  static final String NO_LEAK_DETECTION = "-Dio.netty.leakDetection.level=disabled";

  static final String TD = "cluster.local";
  static final SpiffeId CLIENT = new SpiffeId(TD, "bench", "client");
  static final SpiffeId SERVER = new SpiffeId(TD, "bench", "server");

  final Transport transport;
  final EventLoopGroup group;
  final HboneClient client;
  final Channel serverListener;
  final Channel echoListener;
  final Channel discardListener;

  TunnelBench(Transport.Kind kind, TlsProvider tls, int threads, ChannelHandler discardHandler) throws Exception {
    transport = Transport.select(kind);
    group = transport.newEventLoopGroup(threads, "bench");
    LocalCertificateAuthority ca = LocalCertificateAuthority.create(TD);
    IdentityProvider certs = ca.asIdentityProvider(Duration.ofHours(24));
    HboneServer server = HboneServer.create(HboneServerConfig.defaults().withTlsProvider(tls), certs, SERVER,
        (req, resp) -> new Bootstrap().group(resp.eventLoop()).channel(transport.socketChannelClass())
            .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
            .option(ChannelOption.AUTO_READ, false)
            .option(ChannelOption.TCP_NODELAY, true)
            .handler(new ChannelInboundHandlerAdapter())
            .connect(new InetSocketAddress(req.target().host(), req.target().port()))
            .addListener((ChannelFuture f) -> {
              if (f.isSuccess()) {
                Relay.start(resp.accept(), f.channel(), (ab, ba, cause) -> { });
              } else {
                resp.refuse(503, f.cause().toString());
              }
            }));
    serverListener = bind(server.childInitializer());
    echoListener = bind(new EchoHandler());
    discardListener = bind(discardHandler);
    client = new HboneClient(HboneClientConfig.defaults().withTlsProvider(tls), transport, group, certs);
  }

  private Channel bind(ChannelHandler child) throws InterruptedException {
    return new ServerBootstrap().group(group).channel(transport.serverChannelClass())
        .childOption(ChannelOption.TCP_NODELAY, true)
        .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
        .childHandler(child)
        .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
  }

  static int port(Channel listener) {
    return ((InetSocketAddress) listener.localAddress()).getPort();
  }

  /** A channel to {@code backend}, through a tunnel or directly; auto-read off, handler not yet added. */
  Channel open(String path, Channel backend) throws Exception {
    int port = port(backend);
    if (path.equals("tunnel")) {
      return client.connect(new ConnectTarget(CLIENT, Set.of(SERVER),
          (InetSocketAddress) serverListener.localAddress(), "127.0.0.1:" + port, Map.of())).get(10, TimeUnit.SECONDS);
    }
    return new Bootstrap().group(group).channel(transport.socketChannelClass())
        .option(ChannelOption.TCP_NODELAY, true)
        .option(ChannelOption.AUTO_READ, false)
        .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
        .handler(new ChannelInboundHandlerAdapter())
        .connect(new InetSocketAddress("127.0.0.1", port)).sync().channel();
  }

  @Override
  public void close() throws Exception {
    client.close();
    serverListener.close().sync();
    echoListener.close().sync();
    discardListener.close().sync();
    group.shutdownGracefully(0, 2, TimeUnit.SECONDS).sync();
  }

  @ChannelHandler.Sharable
  static final class EchoHandler extends ChannelInboundHandlerAdapter {
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      ctx.write(msg);
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
      ctx.flush();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }

  /** Counts and releases what it receives. */
  @ChannelHandler.Sharable
  static class DiscardHandler extends ChannelInboundHandlerAdapter {
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof ByteBuf b) {
        received(b.readableBytes());
      }
      ReferenceCountUtil.release(msg);
    }

    void received(int bytes) {}

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }
}
