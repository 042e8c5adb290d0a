package dev.ambientj.waypoint;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.hbone.HboneClient;
import dev.ambientj.hbone.HboneClientConfig;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The waypoint's limits on what its clients send and hold, over real HBONE (mTLS) from clients with
 * the api-gateway identity, with short deadlines: oversized headers (HTTP/2 and HTTP/1.1 → 431,
 * counted like any response), slow headers (→ 408 at the deadline), idle connections (closed), and
 * the cap on HBONE connections (the one over it closed at once, counted).
 */
class WaypointLimitsTest {
  static final Duration HEADERS_TIMEOUT = Duration.ofSeconds(1);
  static final Duration IDLE_TIMEOUT = Duration.ofSeconds(3);
  static final int MAX_CONNECTIONS = 6;
  static TestMesh mesh;

  @BeforeAll
  static void start() throws Exception {
    mesh = new TestMesh(184);
    TestPod.Behaviour echoName = (pod, req, ctx) -> TestPod.respond(ctx, req, 200, pod.name);
    mesh.pod("payment-v1-0", "2.20", TestMesh.PAYMENT, echoName);
    mesh.pod("payment-v2-0", "2.21", TestMesh.PAYMENT, echoName);
    mesh.apply("");
    mesh.startWaypoint(b -> b.requestHeadersTimeout(HEADERS_TIMEOUT).idleTimeout(IDLE_TIMEOUT)
        .maxConnections(MAX_CONNECTIONS));
  }

  @AfterAll
  static void stop() {
    if (mesh != null) {
      mesh.close();
    }
  }

  /**
   * Header lists over 60 KiB on HTTP/2 get 431 on their stream (as Envoy answers), not a GOAWAY
   * that the client takes for a refused stream and retries — also when the compressed block is far
   * over the limit (random values barely compress) — and the connection keeps serving.
   */
  @Test
  void oversizedHeadersOverHttp2Get431AndTheConnectionLivesOn() throws Exception {
    double before = metric("istio_requests_total", "response_code=\"431\"");
    Channel tunnel = mesh.client(TestMesh.API_GATEWAY).tunnel(mesh.paymentVip());
    List<String> connectionEvents = new CopyOnWriteArrayList<>();
    // a client that ignores the server's SETTINGS_MAX_HEADER_LIST_SIZE, as curl and h2load do
    tunnel.pipeline().addLast(Http2FrameCodecBuilder.forClient().encoderIgnoreMaxHeaderListSize(true).build());
    tunnel.pipeline().addLast(new Http2MultiplexHandler(new ChannelInboundHandlerAdapter() {
      @Override
      public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof Http2GoAwayFrame g) {
          connectionEvents.add("GOAWAY " + g.errorCode());
        }
        ReferenceCountUtil.release(msg);
      }
    }));
    tunnel.config().setAutoRead(true);
    try {
      Random random = new Random(15);
      Http2Headers oneBig = get("/one-big");
      oneBig.set("x-big", randomText(random, 200_000));
      assertThat(send(tunnel, oneBig)).isEqualTo("HEADERS :status 431");

      Http2Headers many = get("/many");
      for (int i = 0; i < 2_000; i++) {
        many.add("x-h" + i, randomText(random, 50));
      }
      assertThat(send(tunnel, many)).isEqualTo("HEADERS :status 431");

      assertThat(send(tunnel, get("/after"))).isEqualTo("HEADERS :status 200");
      assertThat(connectionEvents).as("no GOAWAY").isEmpty();
    } finally {
      tunnel.close();
    }
    assertThat(metric("istio_requests_total", "response_code=\"431\"") - before)
        .as("both 431s in istio_requests_total").isEqualTo(2.0);
  }

  @Test
  void oversizedHeadersOverHttp1Get431() throws Exception {
    double before = metric("istio_requests_total", "response_code=\"431\"");
    try (TestClient.Http1 c = mesh.client(TestMesh.API_GATEWAY).http1(mesh.paymentVip())) {
      FullHttpRequest big = WaypointEndToEndTest.get("/big");
      big.headers().set("x-big", "a".repeat(70 * 1024));
      FullHttpResponse r = c.send(big);
      assertThat(r.status().code()).isEqualTo(431);
      r.release();
    }
    assertThat(metric("istio_requests_total", "response_code=\"431\"") - before).isEqualTo(1.0);
  }

  /** A client that trickles its headers gets 408 at the request headers timeout, and its tunnel ends. */
  @Test
  void slowHeadersGet408AtTheDeadline() throws Exception {
    double timeoutsBefore = metric("envoy_http_downstream_rq_header_timeout_total", "");
    double before408 = metric("istio_requests_total", "response_code=\"408\"");
    RawTunnel raw = new RawTunnel(mesh.client(TestMesh.API_GATEWAY).tunnel(mesh.paymentVip()));
    raw.write("GET /slow HTTP/1.1\r\nHost: payment-service\r\n");
    long start = System.nanoTime();
    for (int i = 0; i < 40 && raw.tunnel.isActive(); i++) { // 8 s of one header line every 200 ms
      raw.write("x-slow-" + i + ": 1\r\n");
      TimeUnit.MILLISECONDS.sleep(200);
    }
    assertThat(raw.closed(10)).as("tunnel closed").isTrue();
    long elapsedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    assertThat(raw.text()).startsWith("HTTP/1.1 408 ");
    assertThat(elapsedMillis).as("closed at the deadline, not at the end of the trickle")
        .isLessThan(7_000);
    assertThat(metric("envoy_http_downstream_rq_header_timeout_total", "") - timeoutsBefore).isEqualTo(1.0);
    assertThat(metric("istio_requests_total", "response_code=\"408\"") - before408).isEqualTo(1.0);
  }

  /** A keep-alive connection left idle after its response, and a tunnel that never sends, are closed. */
  @Test
  void idleConnectionsAreClosed() throws Exception {
    double before = metric("envoy_http_downstream_cx_idle_timeout_total", "");
    RawTunnel silent = new RawTunnel(mesh.client(TestMesh.API_GATEWAY).tunnel(mesh.paymentVip()));
    RawTunnel keepAlive = new RawTunnel(mesh.client(TestMesh.API_GATEWAY).tunnel(mesh.paymentVip()));
    keepAlive.write("GET /once HTTP/1.1\r\nHost: payment-service\r\n\r\n");
    Channel h2 = mesh.client(TestMesh.API_GATEWAY).tunnel(mesh.paymentVip());
    List<String> goaways = new CopyOnWriteArrayList<>();
    try (TestClient.Http2 idleH2 = new TestClient.Http2(h2)) {
      h2.pipeline().addLast(new ChannelInboundHandlerAdapter() { // GOAWAY passes the multiplexer to here
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
          if (msg instanceof Http2GoAwayFrame g) {
            goaways.add("GOAWAY " + g.errorCode());
          }
          ReferenceCountUtil.release(msg);
        }
      });
      FullHttpResponse r = idleH2.send(WaypointEndToEndTest.get("/h2-once"));
      assertThat(r.status().code()).isEqualTo(200);
      r.release();
      assertThat(silent.closed(15)).as("silent tunnel closed").isTrue();
      assertThat(keepAlive.closed(15)).as("idle HTTP/1.1 tunnel closed").isTrue();
      assertThat(keepAlive.text()).startsWith("HTTP/1.1 200 ");
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
      while (h2.isActive() && System.nanoTime() < deadline) {
        TimeUnit.MILLISECONDS.sleep(50);
      }
      assertThat(h2.isActive()).as("idle HTTP/2 tunnel closed").isFalse();
      assertThat(goaways).as("HTTP/2 client told with GOAWAY NO_ERROR").containsExactly("GOAWAY 0");
    }
    assertThat(metric("envoy_http_downstream_cx_idle_timeout_total", "") - before).isEqualTo(3.0);
  }

  /** HBONE connections over the cap are closed as soon as they are accepted, counted; the cap frees up. */
  @Test
  void connectionsOverTheCapAreClosedAndCounted() throws Exception {
    double overflowBefore = metric("envoy_listener_downstream_cx_overflow_total", "");
    List<HboneClient> clients = new ArrayList<>();
    try {
      int open = (int) metric("envoy_listener_downstream_cx_active", "");
      for (int i = open; i < MAX_CONNECTIONS; i++) {
        HboneClient c = newClient(clients);
        try (TestClient.Http1 h = new TestClient(c, TestMesh.API_GATEWAY, TestMesh.WAYPOINT, mesh.waypoint.address())
            .http1(mesh.paymentVip())) {
          FullHttpResponse r = h.send(WaypointEndToEndTest.get("/under-the-cap"));
          assertThat(r.status().code()).isEqualTo(200);
          r.release();
        }
      }
      assertThat(metric("envoy_listener_downstream_cx_active", "")).isEqualTo(MAX_CONNECTIONS);
      HboneClient over = newClient(clients);
      TestClient refused = new TestClient(over, TestMesh.API_GATEWAY, TestMesh.WAYPOINT, mesh.waypoint.address());
      assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> refused.tunnel(mesh.paymentVip())))
          .as("the connection over the cap fails").isNotNull();
      assertThat(metric("envoy_listener_downstream_cx_overflow_total", "") - overflowBefore).isEqualTo(1.0);
    } finally {
      clients.forEach(HboneClient::close);
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (metric("envoy_listener_downstream_cx_active", "") >= MAX_CONNECTIONS && System.nanoTime() < deadline) {
      TimeUnit.MILLISECONDS.sleep(50);
    }
    HboneClient after = newClient(new ArrayList<>());
    try (TestClient.Http1 h = new TestClient(after, TestMesh.API_GATEWAY, TestMesh.WAYPOINT, mesh.waypoint.address())
        .http1(mesh.paymentVip())) {
      FullHttpResponse r = h.send(WaypointEndToEndTest.get("/after-the-cap"));
      assertThat(r.status().code()).as("served again once connections closed").isEqualTo(200);
      r.release();
    } finally {
      after.close();
    }
  }

  private static HboneClient newClient(List<HboneClient> owned) {
    HboneClient c = new HboneClient(HboneClientConfig.defaults(), mesh.transport, mesh.group, mesh.certs);
    owned.add(c);
    return c;
  }

  /** The value of the first sample of {@code name} whose labels contain {@code labels} (summed over all matches). */
  static double metric(String name, String labels) {
    double sum = 0;
    Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name) + "(\\{[^}]*})? ([0-9.eE+-]+)$")
        .matcher(mesh.waypoint.metrics().scrape());
    while (m.find()) {
      if (m.group(1) == null ? labels.isEmpty() : m.group(1).contains(labels)) {
        sum += Double.parseDouble(m.group(2));
      }
    }
    return sum;
  }

  private static String randomText(Random random, int length) {
    String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    StringBuilder b = new StringBuilder(length);
    for (int i = 0; i < length; i++) {
      b.append(alphabet.charAt(random.nextInt(alphabet.length())));
    }
    return b.toString();
  }

  private static Http2Headers get(String path) {
    return new DefaultHttp2Headers().method("GET").scheme("http").path(path).authority("payment-service");
  }

  /** Sends one request on a new stream; the first thing that comes back, as text. */
  private static String send(Channel conn, Http2Headers headers) throws Exception {
    BlockingQueue<String> got = new LinkedBlockingQueue<>();
    Http2StreamChannel stream = new Http2StreamChannelBootstrap(conn).handler(new ChannelInitializer<Channel>() {
      @Override
      protected void initChannel(Channel ch) {
        ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
          @Override
          public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Http2HeadersFrame h) {
              got.add("HEADERS :status " + h.headers().status());
            }
            ReferenceCountUtil.release(msg);
          }

          @Override
          public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof Http2ResetFrame r) {
              got.add("RST_STREAM " + r.errorCode());
            }
            ReferenceCountUtil.release(evt);
          }

          @Override
          public void channelInactive(ChannelHandlerContext ctx) {
            got.add("closed");
          }
        });
      }
    }).open().get(10, TimeUnit.SECONDS);
    stream.writeAndFlush(new DefaultHttp2HeadersFrame(headers, true));
    String first = got.poll(10, TimeUnit.SECONDS);
    stream.close();
    return first;
  }

  /** A tunnel used as a raw byte pipe: what was received, and whether it closed. */
  static final class RawTunnel {
    final Channel tunnel;
    private final StringBuffer received = new StringBuffer();

    RawTunnel(Channel tunnel) {
      this.tunnel = tunnel;
      tunnel.pipeline().addLast(new ChannelInboundHandlerAdapter() {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
          ByteBuf b = (ByteBuf) msg;
          received.append(b.toString(StandardCharsets.ISO_8859_1));
          b.release();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
          ctx.close();
        }
      });
      tunnel.config().setAutoRead(true);
    }

    void write(String s) {
      tunnel.writeAndFlush(Unpooled.copiedBuffer(s, StandardCharsets.ISO_8859_1));
    }

    boolean closed(int seconds) throws InterruptedException {
      return tunnel.closeFuture().await(seconds, TimeUnit.SECONDS);
    }

    String text() {
      return received.toString();
    }
  }
}
