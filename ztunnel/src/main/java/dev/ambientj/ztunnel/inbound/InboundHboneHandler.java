package dev.ambientj.ztunnel.inbound;

import dev.ambientj.config.authz.AuthzRequest;
import dev.ambientj.config.authz.AuthzVerdict;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Service;
import dev.ambientj.config.model.Workload;
import dev.ambientj.hbone.ConnectRequest;
import dev.ambientj.hbone.ConnectRequestHandler;
import dev.ambientj.hbone.ConnectResponder;
import dev.ambientj.hbone.HboneServerEvent;
import dev.ambientj.hbone.TunnelChannels;
import dev.ambientj.ztunnel.authz.TrackedConnection;
import dev.ambientj.ztunnel.fairness.WorkloadBudgets;
import dev.ambientj.ztunnel.proxy.ConnectionTelemetry;
import dev.ambientj.ztunnel.proxy.ProxyContext;
import dev.ambientj.ztunnel.proxy.Relays;
import dev.ambientj.ztunnel.proxy.WorkloadInfo;
import dev.ambientj.ztunnel.telemetry.Reporter;
import dev.ambientj.ztunnel.telemetry.TrafficMetrics;
import io.netty.channel.Channel;
import io.netty.util.NetUtil;
import io.netty.util.concurrent.Future;
import java.net.InetSocketAddress;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Inbound HBONE (15008) for one local workload: each CONNECT stream is validated
 * ({@link InboundResolver}), the local app is connected on the stream's event loop, and only then is
 * 200 sent and the relay started (ztunnel: "200 only once connected"). Refusals answer 400/503.
 *
 * <p>The peer identity comes from the mTLS handshake, never from a header. The source workload for
 * telemetry is the workload at the peer address when its identity matches, else the labels of the
 * peer's {@code baggage}.
 */
public final class InboundHboneHandler implements ConnectRequestHandler {
  private static final Logger log = LoggerFactory.getLogger(InboundHboneHandler.class);

  private final ProxyContext ctx;
  private final String localUid;

  public InboundHboneHandler(ProxyContext ctx, String localUid) {
    this.ctx = ctx;
    this.localUid = localUid;
  }

  @Override
  public void onConnect(ConnectRequest request, ConnectResponder responder) {
    MeshSnapshot snapshot = ctx.snapshot();
    Workload local = snapshot.findWorkloadByUid(localUid).orElse(null);
    String peer = request.peerIdentity() == null ? null : request.peerIdentity().toString();
    Workload source = sourceWorkload(snapshot, request);
    ConnectionTelemetry telemetry = ctx.telemetry(Reporter.DESTINATION, localUid)
        .source(request.peerAddress(), source != null ? ctx.infos().info(source).labels()
            : ctx.infos().labelsFromBaggage(request.baggage(), peer), peer)
        .hbone(request.authority());
    WorkloadInfo localInfo = local == null ? null : ctx.infos().info(local);
    telemetry.destination(request.localAddress(), localInfo == null ? null : localInfo.labels(),
        localInfo == null || localInfo.identity() == null ? null : localInfo.identity().toString());
    InboundDecision decision = InboundResolver.resolve(snapshot, local,
        request.localAddress().getAddress(), request.target().host(), request.target().port());
    switch (decision) {
      case InboundDecision.Refuse refuse -> {
        String message = refuse.reason() + ": " + refuse.message();
        log.debug("refusing CONNECT {} from {}: {}", request.authority(), peer, message);
        responder.refuse(refuse.status(), message);
        telemetry.closed(0, 0, message, TrafficMetrics.NO_FLAGS);
      }
      case InboundDecision.Accept accept -> {
        telemetry.service(ctx.infos().labels(accept.service() != null ? accept.service()
            : forwardedService(snapshot, request.forwarded(), local)));
        // RBAC tuple (ISTIO-FACTS §4 step 5): {src: peer addr, src identity, dst: podIP:port}.
        AuthzRequest rbac = AuthzRequest.l4(peer, request.peerAddress().getAddress(),
            accept.upstream().getAddress(), accept.upstream().getPort());
        AuthzVerdict verdict = ctx.policies(snapshot).check(local, rbac);
        for (String audit : verdict.audits()) {
          ctx.metrics().authorization("audit", audit, "connect");
        }
        telemetry.policy(verdict.policy());
        // Per source: its pod when it connects from its own address (in-pod mode), else its
        // proven identity, budgeted as a workload of that identity says.
        Workload budgeted = source != null ? source
            : ctx.workloadBudgets().findByIdentity(snapshot, peer);
        WorkloadBudgets.Refusal overBudget = ctx.workloadBudgets().admitStream(
            source != null ? source.uid() : String.valueOf(peer), budgeted,
            budgeted != null ? "workload " + budgeted.namespace() + "/" + budgeted.name()
                : "peer " + peer, responder.streamClosed());
        if (overBudget != null) {
          log.debug("refusing CONNECT {} from {}: {}", request.authority(), peer,
              overBudget.message());
          responder.refuse(429, overBudget.message());
          telemetry.closed(0, 0, overBudget.message(), TrafficMetrics.FLAG_OVER_BUDGET);
          return;
        }
        telemetry.opened();
        if (!verdict.allowed()) {
          String message = "RBAC: " + verdict.reason();
          log.debug("refusing CONNECT {} from {}: {}", request.authority(), peer, message);
          responder.refuse(401, message);
          ctx.metrics().authorization("deny", verdict.policy(), "connect");
          telemetry.closed(0, 0, message, TrafficMetrics.FLAG_DENY);
          return;
        }
        connectUpstream(accept.upstream(), responder, telemetry, peer, rbac);
      }
    }
  }

  @Override
  public void onServerEvent(HboneServerEvent event) {
    ctx.metrics().hboneServerEvent(event.kind().label());
  }

  /**
   * Connects the app, then answers 200 and relays. The connect starts only after the read batch
   * that carried the CONNECT has been handled: a client that resets the stream right away (the
   * HTTP/2 "rapid reset" pattern, CONNECT and RST_STREAM in one write) has cancelled it before a
   * single SYN is sent. A reset that comes later cancels the connect in progress, or resets the
   * app connection that has just been made — an upstream connection never outlives its stream.
   */
  private void connectUpstream(InetSocketAddress upstream, ConnectResponder responder,
      ConnectionTelemetry telemetry, String peer, AuthzRequest rbac) {
    Future<?>[] connecting = new Future<?>[1];
    boolean[] cancelled = new boolean[1];
    responder.onCancel(() -> {
      cancelled[0] = true;
      if (connecting[0] != null) {
        connecting[0].cancel(false);
      } else {
        telemetry.closed(0, 0, CANCELLED, TrafficMetrics.FLAG_CONNECT);
      }
    });
    responder.eventLoop().execute(() -> {
      if (!cancelled[0]) {
        connecting[0] = connectThenRelay(upstream, responder, telemetry, peer, rbac);
      }
    });
  }

  private static final String CANCELLED =
      "CONNECT abandoned before the application's connection was up (reset by the client, its connection closed, or not answered in time)";

  private Future<Channel> connectThenRelay(InetSocketAddress upstream, ConnectResponder responder,
      ConnectionTelemetry telemetry, String peer, AuthzRequest rbac) {
    Future<Channel> connect = ctx.connectTcp(responder.eventLoop(), upstream, ctx.binder().origin(localUid));
    connect.addListener(f -> {
      if (f.isCancelled()) {
        telemetry.closed(0, 0, CANCELLED, TrafficMetrics.FLAG_CONNECT);
        return;
      }
      if (!f.isSuccess()) {
        String message = "connection to the application at "
            + NetUtil.toSocketAddressString(upstream) + " failed: "
            + ProxyContext.describe(f.cause());
        responder.refuse(503, message);
        telemetry.closed(0, 0, message, TrafficMetrics.FLAG_CONNECT);
        return;
      }
      Channel app = connect.getNow();
      Channel tunnel = responder.accept();
      if (!tunnel.isActive()) { // reset while the connect completed: the app gets a reset too
        TunnelChannels.reset(app);
        telemetry.closed(0, 0, CANCELLED, TrafficMetrics.FLAG_CONNECT);
        return;
      }
      InetSocketAddress appSide = (InetSocketAddress) app.localAddress();
      ctx.inboundConnections().register(appSide, peer);
      TrackedConnection tracked = new TrackedConnection(localUid, rbac, false, tunnel, app);
      ctx.inboundConnections().track(tracked);
      Relays.start(tunnel, app, (request, response, cause) -> {
        ctx.inboundConnections().unregister(appSide);
        ctx.inboundConnections().untrack(tracked);
        closed(telemetry, tracked, request, response, cause);
      });
    });
    return connect;
  }

  /** The access-log line and metrics of a relayed connection, policy-closed or not. */
  static void closed(ConnectionTelemetry telemetry, TrackedConnection tracked, long request,
      long response, Throwable cause) {
    String reason = tracked.policyCloseReason();
    if (reason != null) {
      telemetry.policy(tracked.policyClosePolicy());
      telemetry.closed(request, response, reason, TrafficMetrics.FLAG_DENY);
    } else {
      telemetry.closed(request, response, cause);
    }
  }

  /**
   * The workload at the peer address when its identity is the one the peer proved, else null (the
   * source is then known by its identity and baggage only).
   */
  private Workload sourceWorkload(MeshSnapshot snapshot, ConnectRequest request) {
    Optional<Workload> byAddress = snapshot.findWorkloadByAddress(request.peerAddress().getAddress());
    if (byAddress.isPresent()) {
      WorkloadInfo info = ctx.infos().info(byAddress.get());
      if (info.identity() != null && info.identity().equals(request.peerIdentity())) {
        return byAddress.get();
      }
    }
    return null;
  }

  /** The service named by {@code forwarded: …;host=<hostname>}, for telemetry only. */
  private static Service forwardedService(MeshSnapshot snapshot,
      String forwarded, Workload local) {
    if (forwarded == null || local == null) {
      return null;
    }
    int i = forwarded.indexOf("host=");
    if (i < 0) {
      return null;
    }
    int end = forwarded.indexOf(';', i);
    String host = forwarded.substring(i + 5, end < 0 ? forwarded.length() : end).replace("\"", "");
    return snapshot.findServiceByHostname(host, local.namespace()).orElse(null);
  }
}
