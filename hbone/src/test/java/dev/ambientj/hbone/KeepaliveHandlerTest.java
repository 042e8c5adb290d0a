package dev.ambientj.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http2.Http2PingFrame;
import io.netty.handler.timeout.IdleStateEvent;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class KeepaliveHandlerTest {

  @Test
  void pingsWhenIdleAndClosesWithoutAnswer() {
    EmbeddedChannel ch = new EmbeddedChannel(new KeepaliveHandler(TimeUnit.SECONDS.toNanos(20)));
    ch.pipeline().fireUserEventTriggered(IdleStateEvent.FIRST_READER_IDLE_STATE_EVENT);
    Object ping = ch.readOutbound();
    assertThat(ping).isInstanceOf(Http2PingFrame.class);
    assertThat(((Http2PingFrame) ping).ack()).isFalse();
    ch.advanceTimeBy(19, TimeUnit.SECONDS);
    ch.runScheduledPendingTasks();
    assertThat(ch.isActive()).isTrue();
    ch.advanceTimeBy(2, TimeUnit.SECONDS);
    ch.runScheduledPendingTasks();
    assertThat(ch.isActive()).isFalse();
  }

  @Test
  void anyInboundByteCountsAsAnAnswer() {
    EmbeddedChannel ch = new EmbeddedChannel(new KeepaliveHandler(TimeUnit.SECONDS.toNanos(20)));
    ch.pipeline().fireUserEventTriggered(IdleStateEvent.FIRST_READER_IDLE_STATE_EVENT);
    assertThat(ch.<Object>readOutbound()).isInstanceOf(Http2PingFrame.class);
    ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {1}));
    ((io.netty.buffer.ByteBuf) ch.readInbound()).release();
    ch.advanceTimeBy(30, TimeUnit.SECONDS);
    ch.runScheduledPendingTasks();
    assertThat(ch.isActive()).isTrue();
    ch.finishAndReleaseAll();
  }
}
