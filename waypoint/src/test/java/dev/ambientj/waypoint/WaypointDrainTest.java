package dev.ambientj.waypoint;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 16: {@link Waypoint#close()} drains, seen from real HBONE clients over mTLS (127.186.x.y):
 * HTTP/2 clients get GOAWAY at once and their streams in progress go on; a response that ends
 * within the deadline is complete; an HTTP/1.1 keep-alive connection's next response says
 * {@code Connection: close}; at the deadline a started response is reset and one not started is
 * answered 503, both flagged {@code DT} in the access log and in {@code istio_requests_total} —
 * never counted as a complete response.
 */
class WaypointDrainTest {
  private static final Duration DEADLINE = Duration.ofSeconds(2);
  private TestMesh mesh;
  private final ExecutorService pool = Executors.newCachedThreadPool();

  @BeforeEach
  void start() throws Exception {
    mesh = new TestMesh(186);
    TestPod.Behaviour slow = (pod, req, ctx) -> {
      switch (req.uri()) {
        // answers after 800 ms: well within the deadline
        case "/quick" -> ctx.executor().schedule(() -> TestPod.respond(ctx, req, 200, "quick and complete"),
            800, TimeUnit.MILLISECONDS);
        // starts a 1,000-byte response and never finishes it
        case "/stuck" -> {
          HttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
          HttpUtil.setContentLength(head, 1000);
          ctx.write(head);
          ctx.writeAndFlush(new DefaultHttpContent(Unpooled.wrappedBuffer(new byte[100])));
        }
        // never answers
        case "/silent" -> { }
        default -> TestPod.respond(ctx, req, 200, pod.name);
      }
    };
    mesh.pod("payment-v1-0", "2.20", TestMesh.PAYMENT, slow);
    mesh.pod("payment-v2-0", "2.21", TestMesh.PAYMENT, slow);
    mesh.apply("");
    mesh.startWaypoint(b -> b.drainDeadline(DEADLINE));
  }

  @AfterEach
  void stop() {
    pool.shutdownNow();
    if (mesh != null) {
      mesh.close();
    }
  }

  @Test
  void closeLetsResponsesFinishThenEndsTheRestFlagged() throws Exception {
    TestClient client = mesh.client(TestMesh.API_GATEWAY);
    TestClient.Http1 h1 = client.http1(mesh.paymentVip());
    TestClient.Http2 h2 = client.http2(mesh.paymentVip());
    try {
      FullHttpResponse before = h1.send(get("/first"));
      assertThat(before.headers().get(HttpHeaderNames.CONNECTION)).as("keep-alive before the drain").isNull();
      before.release();

      Future<List<HttpObject>> quick = pool.submit(() -> h2.stream(get("/quick")));
      Future<List<HttpObject>> stuck = pool.submit(() -> h2.stream(get("/stuck")));
      Future<List<HttpObject>> silent = pool.submit(() -> h2.stream(get("/silent")));
      awaitRequests(3 + 1);

      long began = System.nanoTime();
      Future<?> closing = pool.submit(mesh.waypoint::close);
      awaitTrue(() -> !mesh.waypoint.ready(), "readiness false once close() began");
      awaitTrue(() -> h2.connectionEvents.contains("GOAWAY 0"), "GOAWAY (NO_ERROR) on the HTTP/2 connection");
      assertThat(millisSince(began)).as("GOAWAY at once, not at the deadline").isLessThan(DEADLINE.toMillis());

      FullHttpResponse last = h1.send(get("/during-drain"));
      assertThat(last.status().code()).isEqualTo(200);
      assertThat(last.headers().get(HttpHeaderNames.CONNECTION)).as("keep-alive learns of the shutdown")
          .isEqualToIgnoringCase("close");
      last.release();
      assertThat(h1.closedWithin(5_000)).as("the HTTP/1.1 connection ends after that response").isTrue();

      List<HttpObject> q = quick.get(10, TimeUnit.SECONDS);
      try {
        assertThat(q.get(0)).isInstanceOf(HttpResponse.class);
        assertThat(((HttpResponse) q.get(0)).status().code()).isEqualTo(200);
        assertThat(q.get(q.size() - 1)).as("the stream in progress ends complete after GOAWAY")
            .isInstanceOf(LastHttpContent.class);
        assertThat(body(q)).isEqualTo("quick and complete");
      } finally {
        q.forEach(ReferenceCountUtil::release);
      }

      closing.get(DEADLINE.toSeconds() + 20, TimeUnit.SECONDS);
      long took = millisSince(began);
      System.out.printf("close() took %d ms with a drain deadline of %d ms%n", took, DEADLINE.toMillis());
      assertThat(took).as("close() waited for the deadline").isGreaterThanOrEqualTo(DEADLINE.toMillis());

      List<HttpObject> s = stuck.get(10, TimeUnit.SECONDS);
      try {
        assertThat(((HttpResponse) s.get(0)).status().code()).isEqualTo(200);
        assertThat(s).as("a response cut at the deadline never ends cleanly").noneMatch(o -> o instanceof LastHttpContent);
      } finally {
        s.forEach(ReferenceCountUtil::release);
      }
      List<HttpObject> n = silent.get(10, TimeUnit.SECONDS);
      try {
        assertThat(((HttpResponse) n.get(0)).status().code()).as("not started at the deadline: 503").isEqualTo(503);
      } finally {
        n.forEach(ReferenceCountUtil::release);
      }

      String scrape = mesh.waypoint.metrics().scrape();
      assertThat(requests(scrape, "200", "DT")).as("the cut response: counted with DT").isEqualTo(1);
      assertThat(requests(scrape, "503", "DT")).as("the unanswered one: 503 DT").isEqualTo(1);
      assertThat(requests(scrape, "200", "-")).as("only the complete responses count as plain 200s").isEqualTo(3);
    } finally {
      h1.close();
      h2.close();
    }
  }

  /** {@code istio_requests_total} of the series with this code and these flags. */
  private static double requests(String scrape, String code, String flags) {
    double sum = 0;
    for (String line : scrape.split("\n")) {
      if (line.startsWith("istio_requests_total{") && line.contains("response_code=\"" + code + "\"")
          && line.contains("response_flags=\"" + flags + "\"")) {
        sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return sum;
  }

  private static String body(List<HttpObject> objects) {
    StringBuilder b = new StringBuilder();
    for (HttpObject o : objects) {
      if (o instanceof HttpContent c) {
        b.append(c.content().toString(java.nio.charset.StandardCharsets.UTF_8));
      }
    }
    return b.toString();
  }

  private void awaitRequests(int n) throws InterruptedException {
    awaitTrue(() -> mesh.pods.stream().mapToInt(p -> p.requests.get()).sum() >= n, n + " requests at the pods");
  }

  private static void awaitTrue(java.util.function.BooleanSupplier condition, String what) throws InterruptedException {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > end) {
        throw new AssertionError("not within 15 s: " + what);
      }
      TimeUnit.MILLISECONDS.sleep(10);
    }
  }

  private static long millisSince(long nanos) {
    return (System.nanoTime() - nanos) / 1_000_000;
  }

  private static FullHttpRequest get(String path) {
    FullHttpRequest r = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, path, Unpooled.EMPTY_BUFFER);
    r.headers().set(HttpHeaderNames.HOST, "payment-service");
    return r;
  }
}
