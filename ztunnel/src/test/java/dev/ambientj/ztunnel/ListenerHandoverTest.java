package dev.ambientj.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.hbone.transport.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.unix.UnixChannel;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class ListenerHandoverTest {
  private static final InetAddress ADDRESS = InetAddress.ofLiteral("127.161.250.1");

  @Test
  void procAddressesArePrintedWordByWordInHostOrder() {
    assertThat(ListenerHandover.procAddress(InetAddress.ofLiteral("127.0.0.1")))
        .isEqualTo("0100007F");
    assertThat(ListenerHandover.procAddress(InetAddress.ofLiteral("10.1.2.3")))
        .isEqualTo("0302010A");
    assertThat(ListenerHandover.procAddress(InetAddress.ofLiteral("::1")))
        .isEqualTo("00000000000000000000000001000000");
  }

  @Test
  void findsTheListeningRowsOfOneAddressAndPort() {
    List<String> table = List.of(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
        "   0: 0100007F:3AC0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0 100 0 0 10 0",
        "   1: 0100007F:3AC0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2222 1 0 100 0 0 10 0",
        "   2: 0100007F:3AC0 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 3333 1 0 20 4 30 10 -1",
        "   3: 0200007F:3AC0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0 100 0 0 10 0");
    assertThat(ListenerHandover.parseListening(table,
        InetAddress.ofLiteral("127.0.0.1").getAddress(), 15040)).containsExactly(1111L, 2222L);
  }

  /**
   * Two listeners share an address with SO_REUSEPORT, as an old ztunnel and its successor do; the
   * old one hands over: it sees the successor, steers new connections to it and closes after the
   * linger. Connections made meanwhile all succeed; those made after the steering reach the
   * successor.
   */
  @Test
  void handsOverToASuccessorOnTheSameAddressWithoutRefusingAConnection() throws Exception {
    try (Pair pair = new Pair()) {
      Channel old = pair.old;
      int port = pair.port;
      AtomicInteger toOld = pair.toOld;
      AtomicInteger toNew = pair.toNew;
      InetSocketAddress at = new InetSocketAddress(ADDRESS, port);
      assertThat(ListenerHandover.listening(at)).hasSize(2);

      ListenerHandover.Listener leaving =
          new ListenerHandover.Listener(null, ExampleMesh.API_GATEWAY, old);
      Thread handover = Thread.ofPlatform().start(() -> {
        try {
          new ListenerHandover(ListenerBinder.hostMode()).run(List.of(leaving),
              System.nanoTime() + TimeUnit.SECONDS.toNanos(30), Set.of(inode(old)));
        } catch (InterruptedException | IOException e) {
          throw new RuntimeException(e);
        }
      });
      int refused = 0;
      int made = 0;
      while (handover.isAlive()) {
        try (Socket s = new Socket(ADDRESS, port)) {
          made++;
        } catch (IOException e) {
          refused++;
        }
      }
      handover.join();
      assertThat(old.isOpen()).isFalse();
      assertThat(refused).as("connections refused during the handover").isZero();
      int oldAtEnd = toOld.get();
      for (int i = 0; i < 50; i++) {
        try (Socket s = new Socket(ADDRESS, port)) {
          made++;
        }
      }
      assertThat(toOld.get()).isEqualTo(oldAtEnd);
      assertThat(made).isGreaterThan(50);
      assertThat(toNew.get()).isPositive();
    }
  }

  /** While the old one lingers after steering, new connections all go to the successor. */
  @Test
  void steeringSendsEveryNewConnectionToTheSuccessor() throws Exception {
    try (Pair pair = new Pair()) {
      dev.ambientj.config.zds.Netns.steerReusePortGroup(
          ((UnixChannel) pair.old).fd().intValue(), 1);
      for (int i = 0; i < 40; i++) {
        try (Socket s = new Socket(ADDRESS, pair.port)) {
          s.getInputStream().read(); // the server closes after counting
        }
      }
      assertThat(pair.toOld.get()).isZero();
      assertThat(pair.toNew.get()).isEqualTo(40);
    }
  }

  /** An old listener and its successor on one address and port, each counting what it accepts. */
  private static final class Pair implements AutoCloseable {
    final Transport transport = Transport.select(Transport.Kind.AUTO);
    final EventLoopGroup group = transport.newEventLoopGroup(1, "handover-test");
    final AtomicInteger toOld = new AtomicInteger();
    final AtomicInteger toNew = new AtomicInteger();
    final Channel old;
    final Channel successor;
    final int port;

    Pair() throws InterruptedException {
      old = listen(group, transport, 0, toOld);
      port = ((InetSocketAddress) old.localAddress()).getPort();
      successor = listen(group, transport, port, toNew);
    }

    @Override
    public void close() throws InterruptedException {
      old.close().sync();
      successor.close().sync();
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
  }

  private static Channel listen(EventLoopGroup group, Transport transport, int port,
      AtomicInteger accepted) throws InterruptedException {
    return new ServerBootstrap().group(group).channel(transport.serverChannelClass())
        .option(WorkloadListeners.reusePort(transport), true)
        .childHandler(new ChannelInitializer<>() {
          @Override
          protected void initChannel(Channel ch) {
            accepted.incrementAndGet();
            ch.close();
          }
        })
        .bind(ADDRESS, port).sync().channel();
  }

  private static long inode(Channel ch) throws IOException {
    String link = Files.readSymbolicLink(
        Path.of("/proc/self/fd/" + ((UnixChannel) ch).fd().intValue())).toString();
    return Long.parseLong(link.substring(8, link.length() - 1));
  }
}
