package dev.ambientj.ztunnel.inbound;

import dev.ambientj.config.authz.AuthzRequest;
import dev.ambientj.config.authz.AuthzVerdict;
import dev.ambientj.config.authz.MtlsMode;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Workload;
import dev.ambientj.ztunnel.authz.PolicyState;
import dev.ambientj.ztunnel.authz.TrackedConnection;
import dev.ambientj.ztunnel.proxy.ConnectionTelemetry;
import dev.ambientj.ztunnel.proxy.EarlyDataBuffer;
import dev.ambientj.ztunnel.proxy.Ports;
import dev.ambientj.ztunnel.proxy.ProxyContext;
import dev.ambientj.ztunnel.proxy.Relays;
import dev.ambientj.ztunnel.telemetry.Reporter;
import dev.ambientj.ztunnel.telemetry.TrafficMetrics;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.util.NetUtil;
import io.netty.util.concurrent.Future;
import java.net.InetSocketAddress;

/**
 * Inbound plaintext (15006) for one local workload: a connection from outside the mesh, captured on
 * its way to the pod. The original destination comes through the binding seam; its port must not be
 * one of ztunnel's own; the app is connected at the local pod IP and bytes are relayed.
 *
 * <p>Policy: the PeerAuthentication mode of the workload's target port decides first — STRICT
 * refuses (close, access log {@code error}, {@code response_flags: DENY}); PERMISSIVE and DISABLE
 * accept (in ambient DISABLE only means "plaintext allowed"). Then AuthorizationPolicy with no
 * source identity (ISTIO-FACTS §4, 15006): principal and namespace rules cannot match.
 */
public final class PlaintextInboundInitializer extends ChannelInitializer<Channel> {
  /** The {@code authz.policy} of a connection refused by STRICT PeerAuthentication. */
  static final String STRICT = "PeerAuthentication STRICT";

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
    ConnectionTelemetry telemetry = ctx.telemetry(Reporter.DESTINATION, localUid)
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
    // a pod whose IP is not yet in the configuration (just started) is reached where it was
    InetSocketAddress upstream = local.addresses().isEmpty() || local.addresses().contains(original.getAddress())
        ? original
        : new InetSocketAddress(local.addresses().get(0), original.getPort());
    PolicyState policy = ctx.policies(snapshot);
    AuthzRequest rbac = AuthzRequest.l4(null, client.getAddress(), upstream.getAddress(),
        upstream.getPort());
    String denied = null;
    String deciding = null;
    if (policy.mtlsMode(local, upstream.getPort()) == MtlsMode.STRICT) {
      deciding = STRICT;
      denied = "PeerAuthentication: mTLS is STRICT for " + local.namespace() + "/" + local.name()
          + " port " + upstream.getPort() + "; plaintext refused";
    } else {
      AuthzVerdict verdict = policy.check(local, rbac);
      for (String audit : verdict.audits()) {
        ctx.metrics().authorization("audit", audit, "connect");
      }
      deciding = verdict.policy();
      if (!verdict.allowed()) {
        denied = "RBAC: " + verdict.reason();
      }
    }
    telemetry.policy(deciding);
    telemetry.opened();
    if (denied != null) {
      ctx.metrics().authorization("deny", deciding, "connect");
      telemetry.closed(0, 0, denied, TrafficMetrics.FLAG_DENY);
      ch.close();
      return;
    }
    Future<Channel> connect = ctx.connectTcp(ch.eventLoop(), upstream, ctx.binder().origin(localUid));
    connect.addListener(f -> {
      if (!f.isSuccess()) {
        telemetry.closed(0, 0, "connection to the application at "
            + NetUtil.toSocketAddressString(upstream) + " failed: "
            + ProxyContext.describe(f.cause()), TrafficMetrics.FLAG_CONNECT);
        ch.close();
        return;
      }
      if (!ch.isActive()) {
        connect.getNow().close();
        telemetry.closed(0, 0, "client closed before the application answered",
            TrafficMetrics.NO_FLAGS);
        return;
      }
      TrackedConnection tracked = new TrackedConnection(localUid, rbac, true, ch,
          connect.getNow());
      ctx.inboundConnections().track(tracked);
      Relays.start(ch, connect.getNow(), (request, response, cause) -> {
        ctx.inboundConnections().untrack(tracked);
        InboundHboneHandler.closed(telemetry, tracked, request, response, cause);
      });
    });
  }
}
