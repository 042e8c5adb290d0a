package dev.ambientj.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class TunnelStreamCodecTest {

  static final class Recorder extends ChannelInboundHandlerAdapter {
    final List<Object> events = new ArrayList<>();

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      ByteBuf b = (ByteBuf) msg;
      events.add(b.toString(StandardCharsets.UTF_8));
      b.release();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
      events.add(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      events.add(cause);
    }
  }

  static DefaultHttp2DataFrame data(String s, boolean end) {
    return new DefaultHttp2DataFrame(Unpooled.copiedBuffer(s, StandardCharsets.UTF_8), end);
  }

  @Test
  void holdsBytesUntilTheFirstReadThenPassesThrough() {
    Recorder rec = new Recorder();
    EmbeddedChannel ch = new EmbeddedChannel();
    ch.config().setAutoRead(false);
    ch.pipeline().addLast(new TunnelStreamCodec(List.of(data("early", false))), rec);
    ch.writeInbound(data("more", false));
    assertThat(rec.events).isEmpty();
    ch.read();
    assertThat(rec.events).containsExactly("early", "more");
    ch.writeInbound(data("", false), data("last", true));
    assertThat(rec.events).containsExactly("early", "more", "last", ChannelInputShutdownEvent.INSTANCE,
        ChannelInputShutdownReadComplete.INSTANCE);
    assertThat(ch.finishAndReleaseAll()).isFalse();
  }

  @Test
  void writesBecomeDataFramesAndEndStreamOnlyOnce() {
    TunnelStreamCodec codec = new TunnelStreamCodec(List.of());
    EmbeddedChannel ch = new EmbeddedChannel(codec);
    ch.writeOutbound(Unpooled.copiedBuffer("abc", StandardCharsets.UTF_8));
    Http2DataFrame f = ch.readOutbound();
    assertThat(f.isEndStream()).isFalse();
    assertThat(f.content().toString(StandardCharsets.UTF_8)).isEqualTo("abc");
    f.release();
    ch.writeOutbound(new DefaultHttp2DataFrame(true));
    ((Http2DataFrame) ch.readOutbound()).release();
    assertThat(codec.isOutputShutdown()).isTrue();
    ch.writeOutbound(new DefaultHttp2DataFrame(true)); // second end: swallowed
    assertThat(ch.<Object>readOutbound()).isNull();
    ByteBuf late = Unpooled.copiedBuffer("late", StandardCharsets.UTF_8);
    assertThat(ch.writeOneOutbound(late).isSuccess()).isFalse();
    assertThat(late.refCnt()).isZero();
    ch.finishAndReleaseAll();
  }

  @Test
  void resetBecomesAStreamResetError() {
    Recorder rec = new Recorder();
    EmbeddedChannel ch = new EmbeddedChannel();
    ch.config().setAutoRead(false);
    ch.pipeline().addLast(new TunnelStreamCodec(List.of(data("held", false))), rec);
    ch.pipeline().fireUserEventTriggered(new DefaultHttp2ResetFrame(Http2Error.CANCEL));
    assertThat(rec.events).singleElement().isInstanceOfSatisfying(HboneException.class,
        e -> assertThat(e.kind()).isEqualTo(HboneException.Kind.STREAM_RESET));
    ch.finishAndReleaseAll();
  }
}
