package dev.ambientj.waypoint.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class ProtocolSnifferTest {
  static final class Recorder implements ProtocolSniffer.Installer {
    final List<String> installed = new ArrayList<>();

    @Override
    public void installHttp1(ChannelPipeline p) {
      installed.add("http1");
    }

    @Override
    public void installHttp2(ChannelPipeline p) {
      installed.add("h2");
    }
  }

  static ByteBuf ascii(String s) {
    return Unpooled.copiedBuffer(s, StandardCharsets.US_ASCII);
  }

  @Test
  void http1AfterFirstByte() {
    Recorder r = new Recorder();
    EmbeddedChannel ch = new EmbeddedChannel(new ProtocolSniffer(r));
    ch.writeInbound(ascii("G"));
    assertThat(r.installed).containsExactly("http1");
    ByteBuf passed = ch.readInbound();
    assertThat(passed.toString(StandardCharsets.US_ASCII)).isEqualTo("G");
    passed.release();
    ch.finishAndReleaseAll();
  }

  @Test
  void http2PrefaceInPieces() {
    Recorder r = new Recorder();
    EmbeddedChannel ch = new EmbeddedChannel(new ProtocolSniffer(r));
    ch.writeInbound(ascii("PRI * HTTP/2.0\r\n"));
    assertThat(r.installed).isEmpty();
    ch.writeInbound(ascii("\r\nSM\r\n\r\n"));
    assertThat(r.installed).containsExactly("h2");
    ch.finishAndReleaseAll();
  }

  @Test
  void badPrefaceGetsGoaway() {
    Recorder r = new Recorder();
    EmbeddedChannel ch = new EmbeddedChannel(new ProtocolSniffer(r));
    ch.writeInbound(ascii("PRI * HTTP/1.1\r\n"));
    assertThat(r.installed).isEmpty();
    ByteBuf settings = ch.readOutbound();
    assertThat(settings.getByte(3)).as("SETTINGS").isEqualTo((byte) 0x4);
    assertThat(settings.getByte(9 + 3)).as("GOAWAY").isEqualTo((byte) 0x7);
    assertThat(settings.getInt(9 + 9 + 4)).as("PROTOCOL_ERROR").isEqualTo(1);
    settings.release();
    assertThat(ch.isOpen()).isFalse();
    ch.finishAndReleaseAll();
  }
}
