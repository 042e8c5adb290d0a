package dev.ambientj.perf.hbone;

import dev.ambientj.hbone.TlsProvider;
import dev.ambientj.hbone.transport.Transport;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
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
 * Single-stream throughput on loopback: one long-lived channel pushes {@value #BATCH_MIB} MiB per
 * operation into a discard backend, either through an HBONE tunnel (client → mTLS + HTTP/2 →
 * server → relay → TCP) or directly over TCP. An operation ends when the backend has counted every
 * byte. Throughput in MiB/s = {@value #BATCH_MIB} / (seconds per op).
 *
 * <p>Run: {@code java --enable-native-access=ALL-UNNAMED -jar perf/target/benchmarks.jar HboneThroughput}
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xmx1g",
    TunnelBench.POOLED_ALLOCATOR, TunnelBench.ONE_MIB_CHUNKS, TunnelBench.NO_LEAK_DETECTION})
public class HboneThroughputBenchmark {

  static final int BATCH_MIB = 64;
  static final long BATCH = (long) BATCH_MIB << 20;
  static final int CHUNK = 64 << 10;

  @Param({"tunnel", "direct"})
  public String path;

  @Param({"AUTO"})
  public String transport;

  @Param({"AUTO"})
  public String tls;

  TunnelBench bench;
  Channel ch;
  Pump pump;
  ByteBuf chunk;
  volatile long received;
  volatile long target;
  volatile CompletableFuture<Void> done;

  @Setup(Level.Trial)
  public void setup() throws Exception {
    bench = new TunnelBench(Transport.Kind.parse(transport), TlsProvider.valueOf(tls), 2, new TunnelBench.DiscardHandler() {
      @Override
      void received(int bytes) {
        long r = received + bytes; // single writer: the backend connection's event loop
        received = r;
        if (r >= target) {
          done.complete(null);
        }
      }
    });
    chunk = PooledByteBufAllocator.DEFAULT.directBuffer(CHUNK);
    byte[] data = new byte[CHUNK];
    new java.util.Random(1).nextBytes(data);
    chunk.writeBytes(data);
    ch = bench.open(path, bench.discardListener);
    pump = new Pump();
    ch.pipeline().addLast(pump);
    ch.config().setAutoRead(true);
  }

  @TearDown(Level.Trial)
  public void tearDown() throws Exception {
    ch.close().sync();
    chunk.release();
    bench.close();
  }

  @Benchmark
  public long push() throws Exception {
    CompletableFuture<Void> f = new CompletableFuture<>();
    done = f;
    target = received + BATCH;
    ch.eventLoop().execute(() -> pump.start(ch, BATCH));
    f.get(60, TimeUnit.SECONDS);
    return received;
  }

  /** Writes {@code remaining} bytes as writability allows; each write is a retained slice of one buffer. */
  final class Pump extends ChannelInboundHandlerAdapter {
    long remaining;

    void start(Channel c, long bytes) {
      remaining = bytes;
      fill(c);
    }

    void fill(Channel c) {
      while (remaining > 0 && c.isWritable()) {
        c.write(chunk.retainedDuplicate(), c.voidPromise());
        remaining -= CHUNK;
      }
      c.flush();
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
      if (ctx.channel().isWritable() && remaining > 0) {
        fill(ctx.channel());
      }
      ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      io.netty.util.ReferenceCountUtil.release(msg);
    }
  }
}
