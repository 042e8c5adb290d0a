package dev.ambientj.hbone.transport;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.Epoll;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class TransportTest {

  @Test
  void autoPrefersEpoll() {
    Transport t = Transport.select(Transport.Kind.AUTO);
    assertThat(t.kind()).isNotEqualTo(Transport.Kind.AUTO);
    if (Epoll.isAvailable()) {
      assertThat(t.kind()).isEqualTo(Transport.Kind.EPOLL);
    }
  }

  @Test
  void nioAlwaysWorks() throws Exception {
    Transport t = Transport.select(Transport.Kind.NIO);
    assertThat(t.serverChannelClass().getSimpleName()).isEqualTo("NioServerSocketChannel");
    EventLoopGroup g = t.newEventLoopGroup(1, "nio-test");
    g.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
  }

  @Test
  void parsesNames() {
    assertThat(Transport.Kind.parse("io-uring")).isEqualTo(Transport.Kind.IO_URING);
    assertThat(Transport.Kind.parse("EPOLL")).isEqualTo(Transport.Kind.EPOLL);
    assertThatThrownBy(() -> Transport.Kind.parse("kqueue")).hasMessageContaining("expected one of");
  }
}
