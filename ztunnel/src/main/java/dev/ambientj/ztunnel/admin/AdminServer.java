package dev.ambientj.ztunnel.admin;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import java.net.InetSocketAddress;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A tiny HTTP/1.1 server for ztunnel's node-level ports (admin 15000, metrics 15020, readiness
 * 15021). Each port gets its own path table. Requests are small: 8 KiB aggregation limit.
 */
public final class AdminServer implements AutoCloseable {
  private final Channel channel;

  private AdminServer(Channel channel) {
    this.channel = channel;
  }

  /**
   * Binds {@code address} (port 0 allowed) and serves {@code endpoints}; waits for the bind.
   *
   * @throws IllegalStateException naming the address when it cannot be bound
   */
  public static AdminServer start(EventLoopGroup group, Class<? extends ServerChannel> channelClass,
      InetSocketAddress address, Map<String, AdminEndpoint> endpoints) throws InterruptedException {
    Map<String, AdminEndpoint> table = new LinkedHashMap<>(endpoints);
    ChannelFuture bind = new ServerBootstrap()
        .group(group)
        .channel(channelClass)
        .childHandler(new ChannelInitializer<>() {
          @Override
          protected void initChannel(Channel ch) {
            ch.pipeline()
                .addLast(new HttpServerCodec())
                .addLast(new HttpObjectAggregator(8192))
                .addLast(new AdminHttpHandler(table));
          }
        })
        .bind(address)
        .await();
    if (!bind.isSuccess()) {
      throw new IllegalStateException("cannot listen on " + address.getAddress().getHostAddress()
          + ":" + address.getPort() + ": " + bind.cause().getMessage(), bind.cause());
    }
    return new AdminServer(bind.channel());
  }

  /** The bound address (the real port when 0 was asked for). */
  public InetSocketAddress address() {
    return (InetSocketAddress) channel.localAddress();
  }

  @Override
  public void close() {
    channel.close().syncUninterruptibly();
  }
}
