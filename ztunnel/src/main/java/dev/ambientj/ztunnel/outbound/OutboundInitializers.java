package dev.ambientj.ztunnel.outbound;

import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Workload;
import dev.ambientj.hbone.transport.ConnectionLimiter;
import dev.ambientj.ztunnel.proxy.EarlyDataBuffer;
import dev.ambientj.ztunnel.proxy.ProxyContext;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import java.net.InetAddress;
import java.net.InetSocketAddress;

/** Pipelines of a workload's outbound listeners: SOCKS5 (15080) and capture (15001). */
public final class OutboundInitializers {
  private OutboundInitializers() {}

  /** SOCKS5 front end for the workload {@code sourceUid}. */
  public static ChannelInitializer<Channel> socks5(ProxyContext ctx, OutboundProxy proxy,
      String sourceUid) {
    Socks5ServerHandler.SocksTargetResolver target = new Socks5ServerHandler.SocksTargetResolver() {
      @Override
      public InetAddress resolve(String host) {
        MeshSnapshot snapshot = ctx.snapshot();
        String namespace = snapshot.findWorkloadByUid(sourceUid).map(Workload::namespace)
            .orElse(null);
        return OutboundResolver.resolveHostname(snapshot, host, namespace).orElse(null);
      }

      @Override
      public void connect(ChannelHandlerContext handler, InetSocketAddress destination,
          String requestedHost, OutboundCallback callback) {
        proxy.connect(handler.channel(), sourceUid, destination, requestedHost, callback);
      }
    };
    return new ChannelInitializer<>() {
      @Override
      protected void initChannel(Channel ch) {
        Socks5ServerHandler.install(ch.pipeline(), target, ctx.limits().socks5HandshakeTimeout(),
            ctx.listenerMetrics()::socks5Rejected);
      }
    };
  }

  /**
   * Capture front end: the destination is the connection's original destination, read through the
   * binding seam; what the client sends before the upstream is ready is held for the relay.
   */
  public static ChannelInitializer<Channel> capture(ProxyContext ctx, OutboundProxy proxy,
      String sourceUid) {
    return new ChannelInitializer<>() {
      @Override
      protected void initChannel(Channel ch) {
        EarlyDataBuffer.install(ch);
        InetSocketAddress destination = ctx.binder().originalDestination(ch);
        proxy.connect(ch, sourceUid, destination, null, new OutboundCallback() {
          @Override
          public void onConnected() {}

          @Override
          public void onFailed(Failure failure, String message) {
            if (failure == Failure.OVERLOADED) {
              ConnectionLimiter.reset(ch); // as a cap refuses: no FIN handshake, no TIME_WAIT
            } else {
              ch.close();
            }
          }
        });
      }
    };
  }
}
