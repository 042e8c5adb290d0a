package dev.ambientj.waypoint;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.WaypointRef;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.testing.FuzzInput;
import dev.ambientj.testing.TrackingAllocator;
import dev.ambientj.waypoint.cluster.ClusterManager;
import dev.ambientj.waypoint.filter.ratelimit.RateLimiter;
import dev.ambientj.waypoint.http.ErrorSink;
import dev.ambientj.waypoint.http.ProtocolSniffer;
import dev.ambientj.waypoint.telemetry.ListenerStats;
import dev.ambientj.waypoint.telemetry.Telemetry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Fuzzes the waypoint's L7 ingress: the bytes a client sends through an accepted HBONE tunnel go
 * into the pipeline the waypoint builds on it ({@link ProtocolSniffer}, then {@link L7Initializer}'s
 * HTTP/1.1 codec or HTTP/2 multiplexer, aggregator and {@link HttpProxyHandler} running each
 * {@link Exchange}) on an {@link EmbeddedChannel}, with the example mesh and its payment policies
 * (routes, retries, fault injection, authorization, rate limit) compiled as the waypoint compiles
 * them. Upstream tunnels are embedded channels answered by the harness.
 *
 * <p>Input: {@code [flags] [answer] client bytes…}. {@code flags & 0x1F}: size of each write (0:
 * at once); bit 5: the request is for the gRPC service (greeter:9000) instead of payment-service:80;
 * bit 6: the client half-closes after its bytes. {@code answer % 6} is what every upstream request
 * gets: 0 a 200 with a body, 1 a 503, 2 a chunked 200 with trailers, 3 the upstream closes, 4 no
 * answer (timeouts and retries run), 5 a malformed response. Then 60 s pass (route timeouts,
 * retries' backoff, idle upstreams) and the tunnel closes.
 *
 * <p>A finding: an exception or Netty error report, a buffer not released.
 */
class L7IngressFuzzTest {
  private static final String POLICIES = read("../examples/payment-policies.yaml");
  private static final MeshSnapshot SNAPSHOT = TestMesh.snapshot(POLICIES);
  private static final SpiffeId CLIENT = SpiffeId.parse("spiffe://cluster.local/ns/production/sa/api-gateway");
  private static final InetSocketAddress CLIENT_ADDRESS = new InetSocketAddress("127.99.1.10", 40000);
  private static final byte[][] ANSWERS = {
      ascii("HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-type: text/plain\r\n\r\nhello"),
      ascii("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"),
      ascii("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: grpc-status\r\n\r\n"
          + "5\r\nhello\r\n0\r\ngrpc-status: 0\r\n\r\n"),
      null, // the upstream closes
      new byte[0], // no answer
      ascii("HTTP/1.1 2000 \r\ncontent-length: -1\r\n\r\n\0\0"),
  };

  @FuzzTest
  void clientBytes(byte[] input) throws Exception {
    if (input.length < 2) {
      return;
    }
    int flags = input[0] & 0xFF;
    byte[] answer = ANSWERS[(input[1] & 0xFF) % ANSWERS.length];
    boolean grpc = (flags & 0x20) != 0;
    FuzzInput.begin();
    TrackingAllocator alloc = new TrackingAllocator();
    AtomicLong now = new AtomicLong(1_000_000_000L);
    List<EmbeddedChannel> upstreams = new ArrayList<>();
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    WaypointRuntime rt = new WaypointRuntime((target, loop) -> {
      EmbeddedChannel up = new EmbeddedChannel();
      up.config().setAutoRead(false);
      upstreams.add(up);
      return CompletableFuture.completedFuture((Channel) up);
    }, new Telemetry(registry, "Kubernetes"),
        dev.ambientj.waypoint.telemetry.Tracing.notExported(registry), now::get, new Random(1), 1 << 20,
        new StreamBuffers(StreamBuffers.DEFAULT_STREAM_BYTES),
        new DownstreamLimits(Duration.ofSeconds(10), Duration.ofHours(1), 100, new ListenerStats(registry)),
        Waypoint.DEFAULT_DRAIN_DEADLINE);
    rt.identity = SpiffeId.parse("spiffe://cluster.local/ns/production/sa/payment-waypoint");
    rt.config.set(WaypointConfig.compile(SNAPSHOT, new WaypointRef("production", "payment-waypoint"),
        new ClusterManager(), new RateLimiter(now::get)));
    DownstreamInfo info = new DownstreamInfo(CLIENT, CLIENT_ADDRESS, null,
        InetAddress.getByName(grpc ? "127.99.10.40" : "127.99.10.20"), grpc ? 9000 : 80);
    EmbeddedChannel down = new EmbeddedChannel();
    try {
      down.freezeTime();
      down.config().setAllocator(alloc);
      down.pipeline().addLast("sniff", new ProtocolSniffer(new L7Initializer(rt, info)));
      down.pipeline().addLast("errors", ErrorSink.INSTANCE);
      FuzzInput.writeInChunks(down, input, 2, flags & 0x1F);
      answerUpstreams(down, upstreams, answer);
      if ((flags & 0x40) != 0 && down.isOpen()) {
        down.pipeline().fireUserEventTriggered(io.netty.channel.socket.ChannelInputShutdownEvent.INSTANCE);
        answerUpstreams(down, upstreams, answer);
      }
      for (int i = 0; i < 12 && down.isOpen(); i++) { // retries' backoff, per-try and route timeouts
        now.addAndGet(TimeUnit.SECONDS.toNanos(5));
        down.advanceTimeBy(5, TimeUnit.SECONDS);
        down.runScheduledPendingTasks();
        answerUpstreams(down, upstreams, answer);
      }
      down.unsafe().close(down.voidPromise()); // the tunnel goes away
      down.runPendingTasks();
      FuzzInput.releaseOutbound(down);
      down.checkException();
      for (EmbeddedChannel up : upstreams) {
        up.checkException();
      }
    } finally {
      down.finishAndReleaseAll();
      upstreams.forEach(EmbeddedChannel::finishAndReleaseAll);
      FuzzInput.end("waypoint L7 input", alloc);
    }
  }

  /**
   * Gives every upstream that received a request its answer, and lets the exchanges run, until
   * nothing changes (a retry opens a new upstream).
   */
  private static void answerUpstreams(EmbeddedChannel down, List<EmbeddedChannel> upstreams, byte[] answer) {
    for (int round = 0; round < 8; round++) {
      down.runPendingTasks();
      FuzzInput.releaseOutbound(down);
      boolean answered = false;
      for (EmbeddedChannel up : List.copyOf(upstreams)) {
        boolean asked = false;
        for (Object o; (o = up.readOutbound()) != null; ) {
          asked |= o instanceof ByteBuf b && b.refCnt() > 0 && b.isReadable();
          if (!(o instanceof ByteBuf b) || b.refCnt() > 0) { // the encoder's buffers may share a count
            ReferenceCountUtil.release(o);
          }
        }
        if (!asked || !up.isOpen()) {
          continue;
        }
        answered = true;
        if (answer == null) {
          up.close();
        } else if (answer.length > 0) {
          up.writeInbound(up.alloc().buffer(answer.length).writeBytes(answer));
        }
        up.runPendingTasks();
      }
      if (!answered) {
        return;
      }
    }
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }

  private static String read(String path) {
    try {
      return Files.readString(Path.of(path));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
