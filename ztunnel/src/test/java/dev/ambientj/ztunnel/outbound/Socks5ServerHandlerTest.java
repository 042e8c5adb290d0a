package dev.ambientj.ztunnel.outbound;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.ztunnel.ExampleMesh;
import dev.ambientj.ztunnel.proxy.EarlyDataBuffer;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** SOCKS5 parsing and replies, on an {@link EmbeddedChannel} with a recording outbound path. */
class Socks5ServerHandlerTest {
  private final MeshSnapshot mesh = ExampleMesh.snapshot();
  private static final Duration HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);
  private final List<String> connects = new ArrayList<>();
  private final List<String> rejected = new ArrayList<>();
  private OutboundCallback pending;
  private final EmbeddedChannel ch = new EmbeddedChannel();

  Socks5ServerHandlerTest() {
    ch.freezeTime();
    Socks5ServerHandler.install(ch.pipeline(), new Socks5ServerHandler.SocksTargetResolver() {
      @Override
      public InetAddress resolve(String host) {
        return OutboundResolver.resolveHostname(mesh, host, "production").orElse(null);
      }

      @Override
      public void connect(ChannelHandlerContext ctx, InetSocketAddress destination,
          String requestedHost, OutboundCallback callback) {
        connects.add(destination.getAddress().getHostAddress() + ":" + destination.getPort()
            + (requestedHost == null ? "" : " (" + requestedHost + ")"));
        pending = callback;
      }
    }, HANDSHAKE_TIMEOUT, rejected::add);
  }

  @AfterEach
  void close() {
    ch.finishAndReleaseAll();
  }

  @Test
  void noAuthGreetingIsAccepted() {
    assertThat(greet()).containsExactly(0x05, 0x00);
  }

  @Test
  void greetingWithoutNoAuthIsRefused() {
    ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {5, 1, 2}));
    assertThat(readOutbound()).containsExactly(0x05, 0xFF);
    assertThat(ch.isOpen()).isFalse();
    assertThat(rejected).containsExactly("no_acceptable_method");
  }

  @Test
  void greetingWithNoMethodsGetsNoAcceptableMethod() {
    ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {5, 0}));
    assertThat(readOutbound()).containsExactly(0x05, 0xFF);
    assertThat(ch.isOpen()).isFalse();
    assertThat(rejected).containsExactly("no_methods");
  }

  @Test
  void socks4RequestGetsTheSocks4Rejection() {
    // SOCKS4 CONNECT to 127.0.0.1:80, user id "u"
    ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {4, 1, 0, 80, 127, 0, 0, 1, 'u', 0}));
    assertThat(readOutbound()).as("rejected, destination echoed")
        .containsExactly(0x00, 0x5B, 0, 80, 127, 0, 0, 1);
    assertThat(ch.isOpen()).isFalse();
    assertThat(rejected).containsExactly("socks4");
    assertThat(connects).isEmpty();
  }

  @Test
  void unknownVersionGetsNoAcceptableMethod() {
    ch.writeInbound(Unpooled.wrappedBuffer("GET / HTTP/1.1\r\n".getBytes(StandardCharsets.US_ASCII)));
    assertThat(readOutbound()).containsExactly(0x05, 0xFF);
    assertThat(ch.isOpen()).isFalse();
    assertThat(rejected).containsExactly("version");
  }

  @Test
  void unknownAddressTypeGetsAddressTypeNotSupported() {
    greet();
    ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {5, 1, 0, 9, 1, 2, 3, 4, 0, 80}));
    int[] reply = readOutbound();
    assertThat(reply[0]).isEqualTo(5);
    assertThat(reply[1]).isEqualTo(0x08);
    assertThat(ch.isOpen()).isFalse();
    assertThat(rejected).containsExactly("address_type");
    assertThat(connects).isEmpty();
  }

  @Test
  void requestOfAnotherVersionGetsGeneralFailure() {
    greet();
    ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {4, 1, 0, 1, 127, 0, 0, 1, 0, 80}));
    assertThat(readOutbound()[1]).isEqualTo(0x01);
    assertThat(ch.isOpen()).isFalse();
    assertThat(rejected).containsExactly("request_version");
  }

  @Test
  void greetingRequestAndPayloadInOneSegmentAreAllServed() {
    ByteBuf all = Unpooled.buffer();
    all.writeBytes(new byte[] {5, 1, 0});
    all.writeBytes(new byte[] {5, 1, 0, 1, 127, 10, 0, 10, 0, 80});
    all.writeBytes("hello".getBytes(StandardCharsets.US_ASCII));
    ch.writeInbound(all);

    assertThat(readOutbound()).containsExactly(0x05, 0x00);
    assertThat(connects).containsExactly("127.10.0.10:80");
    assertThat(ch.pipeline().get(EarlyDataBuffer.class)).as("payload held for the relay")
        .isNotNull();
  }

  @Test
  void ipv6TargetIsDecoded() {
    greet();
    ByteBuf b = Unpooled.buffer();
    b.writeBytes(new byte[] {5, 1, 0, 4});
    b.writeBytes(new byte[] {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
    b.writeShort(8080);
    ch.writeInbound(b);
    assertThat(connects).containsExactly("0:0:0:0:0:0:0:1:8080");
  }

  @Test
  void requestArrivingInPiecesIsAssembled() {
    greet();
    ByteBuf request = domainRequest("orders", 80);
    while (request.isReadable()) {
      ch.writeInbound(request.readRetainedSlice(1));
    }
    request.release();
    assertThat(connects).containsExactly("127.10.0.10:80 (orders)");
  }

  @Test
  void clientThatSendsNothingIsClosedAtTheHandshakeDeadline() {
    ch.advanceTimeBy(HANDSHAKE_TIMEOUT.toMillis() - 1, TimeUnit.MILLISECONDS);
    ch.runScheduledPendingTasks();
    assertThat(ch.isOpen()).isTrue();

    ch.advanceTimeBy(1, TimeUnit.MILLISECONDS);
    ch.runScheduledPendingTasks();
    assertThat(ch.isOpen()).isFalse();
    assertThat(rejected).containsExactly("timeout");
  }

  @Test
  void slowlorisWithAGreetingButNoRequestIsClosedAtTheDeadline() {
    greet();
    ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {5, 1}));
    ch.advanceTimeBy(HANDSHAKE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    ch.runScheduledPendingTasks();
    assertThat(ch.isOpen()).isFalse();
    assertThat(rejected).containsExactly("timeout");
  }

  @Test
  void aCompleteRequestStopsTheHandshakeDeadline() {
    greet();
    ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {5, 1, 0, 1, 127, 10, 0, 10, 0, 80}));
    ch.advanceTimeBy(HANDSHAKE_TIMEOUT.toMillis() * 2, TimeUnit.MILLISECONDS);
    ch.runScheduledPendingTasks();
    assertThat(ch.isOpen()).as("the connect deadline is the outbound path's").isTrue();
    assertThat(rejected).isEmpty();
  }

  @Test
  void halfCloseBeforeTheRequestClosesAtOnce() {
    greet();
    ch.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
    assertThat(ch.isOpen()).isFalse();
    assertThat(rejected).containsExactly("half_closed");
  }

  @Test
  void halfCloseAfterTheRequestIsHeldForTheRelay() {
    greet();
    ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {5, 1, 0, 1, 127, 10, 0, 10, 0, 80}));
    ch.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
    assertThat(ch.isOpen()).isTrue();
    assertThat(rejected).isEmpty();

    pending.onConnected();
    assertThat(readOutbound()[1]).isZero();
  }

  @Test
  void connectTimeoutGetsHostUnreachable() {
    greet();
    ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {5, 1, 0, 1, 127, 10, 0, 10, 0, 80}));
    pending.onFailed(OutboundCallback.Failure.TIMED_OUT, "timed out");
    assertThat(readOutbound()[1]).isEqualTo(0x04);
    assertThat(ch.isOpen()).isFalse();
  }

  @Test
  void connectByIpv4StartsTheOutboundPathAndRepliesOnceConnected() {
    greet();
    ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {5, 1, 0, 1, 127, 10, 0, 10, 0, 80}));

    assertThat(connects).containsExactly("127.10.0.10:80");
    assertThat(ch.pipeline().get(EarlyDataBuffer.class)).isNotNull();
    Object nothingYet = ch.readOutbound();
    assertThat(nothingYet).isNull();

    pending.onConnected();

    int[] reply = readOutbound();
    assertThat(reply[0]).isEqualTo(5);
    assertThat(reply[1]).isEqualTo(0); // succeeded
    assertThat(ch.pipeline().get(Socks5ServerHandler.class)).isNull();
    assertThat(ch.pipeline().get(Socks5ServerHandler.ENCODER)).isNull();
    assertThat(ch.isOpen()).isTrue();
  }

  @Test
  void connectByFullServiceHostname() {
    greet();
    ch.writeInbound(domainRequest("orders.production.svc.cluster.local", 80));
    assertThat(connects).containsExactly(
        "127.10.0.10:80 (orders.production.svc.cluster.local)");
  }

  @Test
  void connectByShortHostnameResolvesInTheClientsNamespace() {
    greet();
    ch.writeInbound(domainRequest("orders", 80));
    assertThat(connects).containsExactly("127.10.0.10:80 (orders)");
  }

  @Test
  void unknownHostnameGetsHostUnreachable() {
    greet();
    ch.writeInbound(domainRequest("nowhere.example.com", 80));

    assertThat(connects).isEmpty();
    assertThat(readOutbound()[1]).isEqualTo(0x04); // host unreachable
    assertThat(ch.isOpen()).isFalse();
  }

  @Test
  void failedOutboundGetsAnErrorReplyAndClose() {
    greet();
    ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {5, 1, 0, 1, 127, 0, 1, 10, 0x3A, (byte) 0xD8}));
    pending.onFailed(OutboundCallback.Failure.REFUSED, "SelfCall");

    assertThat(readOutbound()[1]).isEqualTo(0x02); // not allowed by ruleset
    assertThat(ch.isOpen()).isFalse();
  }

  @Test
  void bindCommandIsUnsupported() {
    greet();
    ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {5, 2, 0, 1, 127, 0, 0, 1, 0, 80}));
    assertThat(readOutbound()[1]).isEqualTo(0x07);
    assertThat(connects).isEmpty();
    assertThat(rejected).containsExactly("command");
  }

  private int[] greet() {
    ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {5, 1, 0}));
    return readOutbound();
  }

  private static ByteBuf domainRequest(String host, int port) {
    byte[] name = host.getBytes(StandardCharsets.US_ASCII);
    ByteBuf b = Unpooled.buffer();
    b.writeBytes(new byte[] {5, 1, 0, 3, (byte) name.length}).writeBytes(name).writeShort(port);
    return b;
  }

  private int[] readOutbound() {
    ByteBuf b = ch.readOutbound();
    assertThat(b).as("a reply was written").isNotNull();
    try {
      byte[] bytes = ByteBufUtil.getBytes(b);
      int[] out = new int[bytes.length];
      for (int i = 0; i < bytes.length; i++) {
        out[i] = bytes[i] & 0xFF;
      }
      return out;
    } finally {
      b.release();
    }
  }
}
