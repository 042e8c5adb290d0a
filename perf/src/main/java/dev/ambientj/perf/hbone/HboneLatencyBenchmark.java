package dev.ambientj.perf.hbone;

import dev.ambientj.hbone.TlsProvider;
import dev.ambientj.hbone.transport.Transport;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.util.concurrent.CompletableFuture;
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
 * 1 KiB request/response round trip on loopback over one long-lived channel to an echo backend,
 * through an HBONE tunnel or directly over TCP. One operation = write 1 KiB, wait until 1 KiB
 * has come back.
 *
 * <p>Run: {@code java --enable-native-access=ALL-UNNAMED -jar perf/target/benchmarks.jar HboneLatency}
 *
 * <p>Allocation: add {@code -prof gc}; {@code gc.alloc.rate.norm} is what every thread of the
 * fork allocated per round trip — both ends of the tunnel, the echo backend and this thread. The
 * direct path is the baseline of everything but the tunnel. Figures: docs/bench-example.md.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xmx1g",
    TunnelBench.POOLED_ALLOCATOR, TunnelBench.ONE_MIB_CHUNKS, TunnelBench.NO_LEAK_DETECTION})
public class HboneLatencyBenchmark {

  static final int SIZE = 1024;

  @Param({"tunnel", "direct"})
  public String path;

  @Param({"AUTO"})
  public String transport;

  @Param({"AUTO"})
  public String tls;

  TunnelBench bench;
  Channel ch;
  ByteBuf payload;
  volatile CompletableFuture<Void> done;
  int got; // event loop only

  @Setup(Level.Trial)
  public void setup() throws Exception {
    bench = new TunnelBench(Transport.Kind.parse(transport), TlsProvider.valueOf(tls), 2,
        new TunnelBench.DiscardHandler());
    payload = Unpooled.unreleasableBuffer(Unpooled.directBuffer(SIZE).writeZero(SIZE));
    ch = bench.open(path, bench.echoListener);
    ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
      @Override
      public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ByteBuf b = (ByteBuf) msg;
        got += b.readableBytes();
        b.release();
        if (got >= SIZE) {
          got -= SIZE;
          done.complete(null);
        }
      }
    });
    ch.config().setAutoRead(true);
  }

  @TearDown(Level.Trial)
  public void tearDown() throws Exception {
    ch.close().sync();
    bench.close();
  }

  @Benchmark
  public void roundTrip1KiB() throws Exception {
    CompletableFuture<Void> f = new CompletableFuture<>();
    done = f;
    ch.writeAndFlush(payload.duplicate(), ch.voidPromise());
    f.get(10, TimeUnit.SECONDS);
  }
}
