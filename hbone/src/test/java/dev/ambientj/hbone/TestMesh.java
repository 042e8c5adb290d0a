package dev.ambientj.hbone;

import dev.ambientj.hbone.identity.IdentityProvider;
import dev.ambientj.hbone.identity.LocalCertificateAuthority;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.hbone.transport.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

/**
 * A loopback HBONE topology for tests: CA → client identity → HboneClient → HboneServer (serving
 * identity) → handler that dials the CONNECT target and relays → TCP echo server.
 */
final class TestMesh implements AutoCloseable {

  static final String TD = "cluster.local";
  static final SpiffeId CLIENT_ID = new SpiffeId(TD, "default", "client");
  static final SpiffeId SERVER_ID = new SpiffeId(TD, "default", "server");

  final LocalCertificateAuthority ca = LocalCertificateAuthority.create(TD);
  final IdentityProvider certs = ca.asIdentityProvider(Duration.ofHours(1));
  final Transport transport;
  final EventLoopGroup group;
  final ConcurrentLinkedQueue<ConnectRequest> requests = new ConcurrentLinkedQueue<>();
  final ConcurrentLinkedQueue<Object[]> relayResults = new ConcurrentLinkedQueue<>();

  Channel echoListener;
  InetSocketAddress echoAddress;
  HboneServer server;
  Channel serverListener;
  InetSocketAddress serverAddress;
  HboneClient client;

  TestMesh() {
    this(Transport.Kind.AUTO);
  }

  TestMesh(Transport.Kind kind) {
    transport = Transport.select(kind);
    group = transport.newEventLoopGroup(2, "test-" + kind.name().toLowerCase());
  }

  TestMesh startEcho() throws InterruptedException {
    echoListener = new ServerBootstrap().group(group).channel(transport.serverChannelClass())
        .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
        .childHandler(new EchoHandler())
        .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    echoAddress = (InetSocketAddress) echoListener.localAddress();
    return this;
  }

  TestMesh startServer(HboneServerConfig config) throws InterruptedException {
    return startServer(config, this::dialAndRelay);
  }

  TestMesh startServer(HboneServerConfig config, ConnectRequestHandler handler) throws InterruptedException {
    server = HboneServer.create(config, certs, SERVER_ID, new ConnectRequestHandler() {
      @Override
      public void onConnect(ConnectRequest req, ConnectResponder resp) {
        requests.add(req);
        handler.onConnect(req, resp);
      }

      @Override
      public void onServerEvent(HboneServerEvent event) {
        handler.onServerEvent(event);
      }
    });
    serverListener = new ServerBootstrap().group(group).channel(transport.serverChannelClass())
        .childHandler(server.childInitializer())
        .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    serverAddress = (InetSocketAddress) serverListener.localAddress();
    return this;
  }

  TestMesh startClient(HboneClientConfig config) {
    client = new HboneClient(config, transport, group, certs);
    return this;
  }

  static TestMesh standard() throws InterruptedException {
    return new TestMesh().startEcho().startServer(HboneServerConfig.defaults()).startClient(HboneClientConfig.defaults());
  }

  /** The ztunnel-inbound shape: dial the target on the stream's loop; 200 only once connected. */
  void dialAndRelay(ConnectRequest req, ConnectResponder resp) {
    new Bootstrap().group(resp.eventLoop()).channel(transport.socketChannelClass())
        .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
        .option(ChannelOption.AUTO_READ, false)
        .handler(new ChannelInboundHandlerAdapter())
        .connect(new InetSocketAddress(req.target().host(), req.target().port()))
        .addListener(f -> {
          if (!f.isSuccess()) {
            resp.refuse(503, "upstream unreachable: " + f.cause());
            return;
          }
          Channel upstream = ((io.netty.channel.ChannelFuture) f).channel();
          Channel tunnel = resp.accept();
          Relay.start(tunnel, upstream, (ab, ba, cause) -> relayResults.add(new Object[] {ab, ba, cause}));
        });
  }

  ConnectTarget target(String authority) {
    return new ConnectTarget(CLIENT_ID, Set.of(SERVER_ID), serverAddress, authority, Map.of());
  }

  ConnectTarget echoTarget() {
    return target("127.0.0.1:" + echoAddress.getPort());
  }

  Channel connectEcho() throws Exception {
    return client.connect(echoTarget()).get(10, TimeUnit.SECONDS);
  }

  @Override
  public void close() {
    if (client != null) {
      client.close();
    }
    if (serverListener != null) {
      serverListener.close().syncUninterruptibly();
    }
    if (echoListener != null) {
      echoListener.close().syncUninterruptibly();
    }
    group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
  }

  /** Echoes bytes; answers a half-close with a half-close. */
  static final class EchoHandler extends ChannelInitializer<Channel> {
    @Override
    protected void initChannel(Channel ch) {
      ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
          ctx.write(msg);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
          ctx.flush();
          if (!ctx.channel().isWritable()) {
            ctx.channel().config().setAutoRead(false);
          }
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
          if (ctx.channel().isWritable()) {
            ctx.channel().config().setAutoRead(true);
          }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
          if (evt instanceof ChannelInputShutdownEvent) {
            TunnelChannels.shutdownOutput(ctx.channel());
          }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
          ctx.close();
        }
      });
    }
  }

  /**
   * Collects what a channel receives: bytes (released here), end of input, close, the first error.
   */
  static final class Sink extends ChannelInboundHandlerAdapter {
    final java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
    final java.util.zip.CRC32 crc = new java.util.zip.CRC32();
    final boolean keep;
    volatile long count;
    final CompletableFuture<Void> inputEnded = new CompletableFuture<>();
    final CompletableFuture<Void> closed = new CompletableFuture<>();
    final CompletableFuture<Throwable> error = new CompletableFuture<>();

    Sink(boolean keep) {
      this.keep = keep;
    }

    static Sink attach(Channel ch, boolean keep) {
      Sink s = new Sink(keep);
      ch.pipeline().addLast(s);
      ch.closeFuture().addListener(f -> s.closed.complete(null));
      ch.config().setAutoRead(true);
      return s;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      ByteBuf b = (ByteBuf) msg;
      try {
        count += b.readableBytes();
        byte[] a = new byte[b.readableBytes()];
        b.readBytes(a);
        crc.update(a);
        if (keep) {
          bytes.writeBytes(a);
        }
      } finally {
        b.release();
      }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
      if (evt instanceof ChannelInputShutdownEvent) {
        inputEnded.complete(null);
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      error.complete(cause);
      ctx.close();
    }

    String text() {
      return bytes.toString(java.nio.charset.StandardCharsets.UTF_8);
    }
  }
}
