package dev.ambientj.ztunnel.inbound;

import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Workload;
import dev.ambientj.ztunnel.proxy.ConnectionTelemetry;
import dev.ambientj.ztunnel.proxy.EarlyDataBuffer;
import dev.ambientj.ztunnel.proxy.Ports;
import dev.ambientj.ztunnel.proxy.ProxyContext;
import dev.ambientj.ztunnel.proxy.Relays;
import dev.ambientj.ztunnel.telemetry.Reporter;
import dev.ambientj.ztunnel.telemetry.TrafficMetrics;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.util.NetUtil;
import java.net.InetSocketAddress;

/**
 * Inbound plaintext (15006) for one local workload: a connection from outside the mesh, captured on
 * its way to the pod. The original destination comes through the binding seam; its port must not be
 * one of ztunnel's own; the app is connected at the local pod IP and bytes are relayed. PERMISSIVE:
 * allowed without an identity until PeerAuthentication arrives.
 */
public final class PlaintextInboundInitializer extends ChannelInitializer<Channel> {
  private final ProxyContext ctx;
  private final String localUid;

  public PlaintextInboundInitializer(ProxyContext ctx, String localUid) {
    this.ctx = ctx;
    this.localUid = localUid;
  }

  @Override
  protected void initChannel(Channel ch) {
    EarlyDataBuffer.install(ch);
    MeshSnapshot snapshot = ctx.snapshot();
    Workload local = snapshot.findWorkloadByUid(localUid).orElse(null);
    InetSocketAddress client = (InetSocketAddress) ch.remoteAddress();
    InetSocketAddress original = ctx.binder().originalDestination(ch);
    ConnectionTelemetry telemetry = ctx.telemetry(Reporter.DESTINATION)
        .source(client, ctx.infos().labels(
            snapshot.findWorkloadByAddress(client.getAddress()).orElse(null)), null)
        .destination(original, ctx.infos().labels(local), null);
    String refusal = null;
    if (local == null) {
      refusal = "UnknownWorkload: no workload " + localUid + " in this node's configuration";
    } else if (Ports.isIllegal(original.getPort())) {
      refusal = "SelfCall: port " + original.getPort() + " is one of ztunnel's own ports";
    }
    if (refusal != null) {
      telemetry.closed(0, 0, refusal, TrafficMetrics.NO_FLAGS);
      ch.close();
      return;
    }
    InetSocketAddress upstream = local.addresses().contains(original.getAddress())
        ? original
        : new InetSocketAddress(local.addresses().get(0), original.getPort());
    telemetry.opened();
    ChannelFuture connect = ctx.connectTcp(ch.eventLoop(), upstream);
    connect.addListener(f -> {
      if (!f.isSuccess()) {
        telemetry.closed(0, 0, "connection to the application at "
            + NetUtil.toSocketAddressString(upstream) + " failed: "
            + ProxyContext.describe(f.cause()), TrafficMetrics.FLAG_CONNECT);
        ch.close();
        return;
      }
      if (!ch.isActive()) {
        connect.channel().close();
        telemetry.closed(0, 0, "client closed before the application answered",
            TrafficMetrics.NO_FLAGS);
        return;
      }
      Relays.start(ch, connect.channel(), (request, response, cause) -> telemetry.closed(request,
          response, cause == null ? null : ProxyContext.describe(cause), TrafficMetrics.NO_FLAGS));
    });
  }
}
