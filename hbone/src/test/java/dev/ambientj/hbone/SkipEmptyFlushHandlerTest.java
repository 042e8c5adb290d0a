package dev.ambientj.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class SkipEmptyFlushHandlerTest {

  /** Stands where the SslHandler is: counts the flushes that reach it. */
  static final class FlushCounter extends ChannelOutboundHandlerAdapter {
    int flushes;

    @Override
    public void flush(ChannelHandlerContext ctx) {
      flushes++;
      ctx.flush();
    }
  }

  @Test
  void aFlushWithNothingWrittenStopsHere() {
    FlushCounter tls = new FlushCounter();
    EmbeddedChannel ch = new EmbeddedChannel(tls, new SkipEmptyFlushHandler());
    int atStart = tls.flushes;
    ch.flush();
    ch.flush();
    assertThat(tls.flushes).isEqualTo(atStart);
    assertThat(ch.<Object>readOutbound()).isNull();
    ch.finishAndReleaseAll();
  }

  @Test
  void aFlushAfterAWriteGoesThroughOnceAndTheBytesArrive() {
    FlushCounter tls = new FlushCounter();
    EmbeddedChannel ch = new EmbeddedChannel(tls, new SkipEmptyFlushHandler());
    int atStart = tls.flushes;
    ch.write(Unpooled.copiedBuffer("frame", StandardCharsets.US_ASCII));
    ch.flush();
    ch.flush(); // nothing new: stops here
    assertThat(tls.flushes).isEqualTo(atStart + 1);
    ByteBuf out = ch.readOutbound();
    assertThat(out.toString(StandardCharsets.US_ASCII)).isEqualTo("frame");
    out.release();
    ch.writeAndFlush(Unpooled.copiedBuffer("next", StandardCharsets.US_ASCII));
    assertThat(tls.flushes).isEqualTo(atStart + 2);
    ByteBuf next = ch.readOutbound();
    assertThat(next.toString(StandardCharsets.US_ASCII)).isEqualTo("next");
    next.release();
    ch.finishAndReleaseAll();
  }
}
