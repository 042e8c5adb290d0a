package dev.ambientj.perf.ztunnel;

import dev.ambientj.hbone.ConnectTarget;
import dev.ambientj.hbone.HboneClient;
import dev.ambientj.hbone.HboneClientConfig;
import dev.ambientj.hbone.HboneServer;
import dev.ambientj.hbone.HboneServerConfig;
import dev.ambientj.hbone.TlsProvider;
import dev.ambientj.hbone.identity.IdentityProvider;
import dev.ambientj.hbone.identity.LocalCertificateAuthority;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.hbone.transport.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The cost of a NEW HBONE connection as ztunnel's outbound pays it on a pool miss: TCP connect,
 * TLS 1.3 mutual handshake with SPIFFE verification on both sides (EC P-256 workload
 * certificates), HTTP/2 preface and SETTINGS, one CONNECT and its 200. One operation = one new
 * connection and its first stream, then the stream is closed.
 *
 * <p>Every operation dials a different loopback address (the server listens on the wildcard), so
 * the client's pool never has a connection for it: no reuse, no TLS resumption (ztunnel disables
 * it; so does hbone). Idle connections are closed after 200 ms. TLS contexts are cached per
 * certificate, as in ztunnel, so their construction is not measured.
 *
 * <p>Run: {@code java --enable-native-access=ALL-UNNAMED -jar perf/target/benchmarks.jar HboneConnect}
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 3)
@Measurement(iterations = 5, time = 3)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xmx1g"})
public class HboneConnectBenchmark {
  static final SpiffeId CLIENT = SpiffeId.parse("spiffe://cluster.local/ns/bench/sa/client");
  static final SpiffeId SERVER = SpiffeId.parse("spiffe://cluster.local/ns/bench/sa/server");

  @Param({"AUTO"})
  public String transport;

  @Param({"AUTO"})
  public String tls;

  EventLoopGroup group;
  Channel listener;
  HboneClient client;
  int port;
  int next;

  @Setup(Level.Trial)
  public void setup() throws Exception {
    Transport t = Transport.select(Transport.Kind.parse(transport));
    group = t.newEventLoopGroup(2, "bench");
    LocalCertificateAuthority ca = LocalCertificateAuthority.create("cluster.local");
    IdentityProvider certs = ca.asIdentityProvider(Duration.ofHours(24));
    HboneServer server = HboneServer.create(
        HboneServerConfig.defaults().withTlsProvider(TlsProvider.valueOf(tls)), certs, SERVER,
        (request, responder) -> {
          Channel stream = responder.accept();
          stream.pipeline().addLast(new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
              ReferenceCountUtil.release(msg);
            }

            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
              ctx.close(); // the client resets the stream when it is done: expected
            }
          });
          stream.config().setAutoRead(true);
        });
    listener = new ServerBootstrap().group(group).channel(t.serverChannelClass())
        .childOption(ChannelOption.TCP_NODELAY, true)
        .childHandler(server.childInitializer())
        .bind(new InetSocketAddress("0.0.0.0", 0)).sync().channel();
    port = ((InetSocketAddress) listener.localAddress()).getPort();
    client = new HboneClient(HboneClientConfig.defaults()
        .withTlsProvider(TlsProvider.valueOf(tls))
        .withIdleTimeout(Duration.ofMillis(200)), t, group, certs);
  }

  @TearDown(Level.Trial)
  public void tearDown() throws Exception {
    client.close();
    listener.close().sync();
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
  }

  @Benchmark
  public void newConnectionAndFirstStream() throws Exception {
    int n = next++ % (254 * 256); // 127.77.0.1 … 127.77.255.254, each used once per cycle
    InetSocketAddress hop = new InetSocketAddress(
        "127.77." + (n / 254) + "." + (n % 254 + 1), port);
    Channel stream = client.connect(new ConnectTarget(CLIENT, Set.of(SERVER), hop,
        "10.0.0.1:8080")).get(10, TimeUnit.SECONDS);
    stream.close();
  }
}
