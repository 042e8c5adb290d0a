package dev.ambientj.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.hbone.transport.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class HostListenerBinderTest {

  @Test
  void withoutARedirectTheOriginalDestinationIsTheLocalAddress() throws Exception {
    Transport transport = Transport.select(Transport.Kind.AUTO);
    EventLoopGroup group = transport.newEventLoopGroup(1, "binder-test");
    CompletableFuture<InetSocketAddress> original = new CompletableFuture<>();
    try {
      ServerBootstrap b = new ServerBootstrap().group(group)
          .channel(transport.serverChannelClass())
          .childHandler(new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
              original.complete(ListenerBinder.hostMode().originalDestination(ch));
            }
          });
      Channel server = ListenerBinder.hostMode()
          .bind(b, ExampleMesh.API_GATEWAY, InetAddress.ofLiteral("127.0.0.1"), 0).sync().channel();
      InetSocketAddress listening = (InetSocketAddress) server.localAddress();
      try (Socket s = new Socket(listening.getAddress(), listening.getPort())) {
        assertThat(original.get(5, TimeUnit.SECONDS)).isEqualTo(listening);
      } finally {
        server.close().sync();
      }
    } finally {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
  }
}
