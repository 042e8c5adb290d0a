package dev.ambientj.hbone.admin;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The node servers' request deadline, on an {@link EmbeddedChannel} with a frozen clock. */
class AdminHttpHandlerTest {
  private static final Duration DEADLINE = Duration.ofSeconds(10);
  private final EmbeddedChannel ch = new EmbeddedChannel();

  AdminHttpHandlerTest() {
    ch.freezeTime();
    ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(8192),
        new AdminHttpHandler(Map.of("/healthz", q -> AdminResponse.text(200, "ok\n")), DEADLINE));
  }

  @AfterEach
  void close() {
    ch.finishAndReleaseAll();
  }

  @Test
  void aClientThatTricklesItsHeadersIsClosedAtTheDeadline() {
    ch.writeInbound(ascii("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
    advance(DEADLINE.toMillis() - 1);
    assertThat(ch.isOpen()).isTrue();
    ch.writeInbound(ascii("X-Slow: 1\r\n"));
    advance(1);
    assertThat(ch.isOpen()).as("bytes do not extend the deadline, a whole request does")
        .isFalse();
  }

  @Test
  void eachKeptAliveResponseGivesTheNextRequestAFullDeadline() {
    advance(DEADLINE.toMillis() - 1);
    ch.writeInbound(ascii("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    assertThat(response()).startsWith("HTTP/1.1 200 OK");
    advance(DEADLINE.toMillis() - 1);
    assertThat(ch.isOpen()).isTrue();
    advance(1);
    assertThat(ch.isOpen()).as("idle after the response for the deadline").isFalse();
  }

  @Test
  void aPostFromAnotherHostIsRefusedWithoutReachingTheEndpoint() {
    // EmbeddedChannel's peer is no address of this host
    ch.writeInbound(ascii("POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"));
    assertThat(response()).startsWith("HTTP/1.1 403 Forbidden")
        .contains("POST /healthz is taken only from this host");
  }

  private String response() {
    StringBuilder all = new StringBuilder();
    for (ByteBuf b = ch.readOutbound(); b != null; b = ch.readOutbound()) {
      all.append(b.toString(StandardCharsets.US_ASCII));
      b.release();
    }
    return all.toString();
  }

  private static ByteBuf ascii(String s) {
    return Unpooled.copiedBuffer(s, StandardCharsets.US_ASCII);
  }

  private void advance(long millis) {
    ch.advanceTimeBy(millis, TimeUnit.MILLISECONDS);
    ch.runScheduledPendingTasks();
  }
}
