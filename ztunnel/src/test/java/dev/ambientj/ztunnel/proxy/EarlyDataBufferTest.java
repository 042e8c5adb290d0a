package dev.ambientj.ztunnel.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class EarlyDataBufferTest {

  /** Records what reaches it, as the relay would see it. */
  private static final class Recorder extends ChannelInboundHandlerAdapter {
    final List<String> seen = new ArrayList<>();

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      ByteBuf b = (ByteBuf) msg;
      seen.add("data:" + b.toString(StandardCharsets.US_ASCII));
      b.release();
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
      seen.add("complete");
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
      seen.add(evt.getClass().getSimpleName());
    }
  }

  @Test
  void holdsBytesUntilTheRelayAndWritesThemToThePeerFirst() {
    EmbeddedChannel ch = new EmbeddedChannel();
    EarlyDataBuffer.install(ch);
    ch.writeInbound(Unpooled.copiedBuffer("GET /", StandardCharsets.US_ASCII));
    ch.writeInbound(Unpooled.copiedBuffer(" HTTP/1.1", StandardCharsets.US_ASCII));
    ch.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
    ch.pipeline().fireUserEventTriggered(ChannelInputShutdownReadComplete.INSTANCE);
    Object passed = ch.readInbound();
    assertThat(passed).as("nothing passes before the relay exists").isNull();
    EmbeddedChannel peer = new EmbeddedChannel();

    long flushed = EarlyDataBuffer.flushTo(ch, peer);

    assertThat(flushed).isEqualTo(14);
    assertThat(readAll(peer)).isEqualTo("GET / HTTP/1.1");
    assertThat(ch.pipeline().get(EarlyDataBuffer.class)).isNull();
    Recorder relay = new Recorder();
    ch.pipeline().addLast(relay);
    ch.writeInbound(Unpooled.copiedBuffer("later", StandardCharsets.US_ASCII));
    assertThat(relay.seen).contains("data:later");
    assertThat(EarlyDataBuffer.flushTo(ch, peer)).as("no buffer any more").isZero();
    ch.finishAndReleaseAll();
    peer.finishAndReleaseAll();
  }

  private static String readAll(EmbeddedChannel peer) {
    StringBuilder b = new StringBuilder();
    for (ByteBuf buf = peer.readOutbound(); buf != null; buf = peer.readOutbound()) {
      b.append(buf.toString(StandardCharsets.US_ASCII));
      buf.release();
    }
    return b.toString();
  }

  @Test
  void aPeerGoneBeforeTheRelayStartsIsNoExceptionInItsPipeline() {
    EmbeddedChannel ch = new EmbeddedChannel();
    EarlyDataBuffer.install(ch);
    ByteBuf early = Unpooled.directBuffer().writeBytes(new byte[100]);
    ch.writeInbound(early);
    // the tunnel stream, reset by the other ztunnel while connecting: still registered, its
    // writes fail (as Http2StreamChannel's do once the stream is closed)
    EmbeddedChannel peer = new EmbeddedChannel(new io.netty.channel.ChannelOutboundHandlerAdapter() {
      @Override
      public void write(ChannelHandlerContext ctx, Object msg, io.netty.channel.ChannelPromise promise) {
        io.netty.util.ReferenceCountUtil.release(msg);
        promise.setFailure(new java.nio.channels.ClosedChannelException());
      }
    });

    assertThat(EarlyDataBuffer.flushTo(ch, peer)).isEqualTo(100);

    peer.checkException(); // nothing fired down the peer's pipeline (with no relay yet to handle it)
    assertThat(early.refCnt()).as("the failed write released the bytes").isZero();
    ch.finishAndReleaseAll();
  }

  @Test
  void releasesHeldBytesWhenTheConnectionFails() {
    EmbeddedChannel ch = new EmbeddedChannel();
    EarlyDataBuffer.install(ch);
    ByteBuf early = Unpooled.directBuffer().writeBytes(new byte[100]);
    ch.writeInbound(early);

    ch.close();

    assertThat(early.refCnt()).isZero();
  }

  @Test
  void pushesBackPastTheLimit() {
    EmbeddedChannel ch = new EmbeddedChannel();
    EarlyDataBuffer.install(ch);
    ch.writeInbound(Unpooled.wrappedBuffer(new byte[EarlyDataBuffer.LIMIT + 1]));

    assertThat(ch.config().isAutoRead()).isFalse();
    ch.finishAndReleaseAll();
  }
}
