package dev.ambientj.hbone.admin;

import dev.ambientj.hbone.transport.AcceptBackoff;
import dev.ambientj.hbone.transport.ConnectionLimiter;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.util.NetUtil;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * A tiny HTTP/1.1 server for ztunnel's node-level ports (admin 15000, metrics 15020, readiness
 * 15021). Each port gets its own path table. Requests are small: 8 KiB aggregation limit.
 *
 * <p>Limits ({@link Guard}): at most {@code maxConnections} connections at once (more are reset
 * and counted), each request must arrive whole within {@link #REQUEST_TIMEOUT} of the connection
 * opening or of the previous response (a slow or idle client is closed), and failing accepts back
 * off ({@link AcceptBackoff}). These servers live outside the pod listeners' caps, in the
 * descriptors those caps leave free, so they keep answering while pod traffic is at its limits.
 */
public final class AdminServer implements AutoCloseable {
  /** How long a client has to send a whole request (Prometheus and kubelet send at once). */
  public static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(10);

  /**
   * What protects one server: its connection cap, the accept back-off shared with the proxy,
   * and where refusals are counted.
   */
  public record Guard(int maxConnections, AcceptBackoff accepts,
      Consumer<ConnectionLimiter.Limit> refused) {
    public Guard {
      Objects.requireNonNull(accepts, "accepts");
      Objects.requireNonNull(refused, "refused");
    }
  }

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
      InetSocketAddress address, Map<String, AdminEndpoint> endpoints, Guard guard)
      throws InterruptedException {
    Map<String, AdminEndpoint> table = new LinkedHashMap<>(endpoints);
    String where = NetUtil.toSocketAddressString(address);
    ConnectionLimiter limiter = ConnectionLimiter.create("node server " + where,
        guard.maxConnections(), guard.maxConnections());
    ChannelFuture bind = new ServerBootstrap()
        .group(group)
        .channel(channelClass)
        .handler(guard.accepts().handler(where))
        .childHandler(new ChannelInitializer<>() {
          @Override
          protected void initChannel(Channel ch) {
            ConnectionLimiter.Refusal refused = limiter.admit(ch, false);
            if (refused != null) {
              guard.refused().accept(refused.limit());
              ConnectionLimiter.reset(ch);
              return;
            }
            ch.pipeline()
                .addLast(new HttpServerCodec())
                .addLast(new HttpObjectAggregator(8192))
                .addLast(new AdminHttpHandler(table, REQUEST_TIMEOUT));
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
