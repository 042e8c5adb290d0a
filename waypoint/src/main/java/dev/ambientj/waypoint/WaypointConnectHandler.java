package dev.ambientj.waypoint;

import dev.ambientj.config.authz.AuthzRequest;
import dev.ambientj.config.model.Service;
import dev.ambientj.config.model.Workload;
import dev.ambientj.hbone.ConnectRequest;
import dev.ambientj.hbone.ConnectRequestHandler;
import dev.ambientj.hbone.ConnectResponder;
import dev.ambientj.hbone.ConnectTarget;
import dev.ambientj.hbone.Relay;
import dev.ambientj.hbone.TunnelChannels;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.waypoint.cluster.Cluster;
import dev.ambientj.waypoint.cluster.UpstreamHost;
import dev.ambientj.waypoint.http.ProtocolSniffer;
import dev.ambientj.waypoint.route.WeightedDestination;
import io.netty.channel.Channel;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decides what to do with each HBONE CONNECT the waypoint receives, by its {@code :authority}:
 *
 * <ul>
 *   <li>a VIP:port of a service bound to this waypoint, on an HTTP port → accept and run the L7
 *       pipeline on the tunnel;
 *   <li>the same on a TCP port → L4: pick an endpoint (DestinationRule load balancer and outlier
 *       state of the service's cluster), open the upstream tunnel, then accept and relay bytes;
 *   <li>a pod address of a workload bound to this waypoint → L4 to that pod's port;
 *   <li>anything else is refused, with ztunnel's statuses: 400 when the address is known but not
 *       served by this waypoint (the "IP mismatch" of ztunnel), 503 when no service or workload has
 *       it, or the service has no such port, or no endpoint is reachable.
 * </ul>
 */
final class WaypointConnectHandler implements ConnectRequestHandler {
  private static final Logger log = LoggerFactory.getLogger(WaypointConnectHandler.class);

  private final WaypointRuntime rt;

  WaypointConnectHandler(WaypointRuntime rt) {
    this.rt = rt;
  }

  @Override
  public void onConnect(ConnectRequest req, ConnectResponder responder) {
    WaypointConfig cfg = rt.config();
    if (cfg == null) {
      responder.refuse(503, "waypoint has no configuration yet");
      return;
    }
    if (!req.target().isIpLiteral()) {
      responder.refuse(400, "authority " + req.authority() + " is not an IP:port (hostname authorities are not served)");
      return;
    }
    InetAddress ip = req.target().ipAddress();
    int port = req.target().port();
    InetSocketAddress source = sourceAddress(req);
    Workload sourceWl = source == null ? null : cfg.snapshot().findWorkloadByAddress(source.getAddress()).orElse(null);
    ServiceBinding binding = cfg.findBinding(ip, port);
    if (binding != null) {
      DownstreamInfo info = new DownstreamInfo(req.peerIdentity(), source, sourceWl, ip, port);
      if (binding.protocol().isHttp()) {
        Channel tunnel = responder.accept();
        if (!tunnel.isActive()) {
          return;
        }
        tunnel.config().setWriteBufferWaterMark(rt.buffers.tunnelWaterMark());
        tunnel.pipeline().addLast("sniff", new ProtocolSniffer(new L7Initializer(rt, info)));
        tunnel.pipeline().addLast("errors", dev.ambientj.waypoint.http.ErrorSink.INSTANCE);
        TunnelDrain.track(rt.drain, tunnel, null);
        closeIfNothingArrives(tunnel);
        tunnel.config().setAutoRead(true);
        return;
      }
      var verdict = binding.authorizer().check(AuthzRequest.l4(info.principal(),
          source == null ? null : source.getAddress(), ip, port));
      if (!verdict.allowed()) {
        log.debug("TCP connection to {} denied: {}", req.authority(), verdict.reason());
        responder.refuse(401, "RBAC: access denied (" + verdict.reason() + ")");
        return;
      }
      Service svc = binding.service();
      WaypointConfig.ClusterResolution res = cfg.resolveCluster(
          new WeightedDestination(svc.hostname(), null, port, 1, null, null), port);
      if (res.cluster() == null) {
        responder.refuse(503, res.error());
        return;
      }
      l4(res.cluster(), null, port, responder, req);
      return;
    }
    if (cfg.servesVip(ip)) {
      responder.refuse(503, "service at " + ip.getHostAddress() + " has no port " + port);
      return;
    }
    Workload bound = cfg.findBoundWorkload(ip);
    if (bound != null) {
      l4(null, bound, port, responder, req);
      return;
    }
    if (cfg.snapshot().findServiceByVip(ip).isPresent() || cfg.snapshot().findWorkloadByAddress(ip).isPresent()) {
      responder.refuse(400, req.authority() + " is not bound to waypoint " + cfg.waypointName());
      return;
    }
    responder.refuse(503, "no service or workload has address " + ip.getHostAddress());
  }

  /**
   * The idle timeout of a tunnel that has not yet said which HTTP it speaks (until then no codec,
   * and no codec's deadline, is installed): closed in order once it passes with the sniffer still
   * waiting.
   */
  private void closeIfNothingArrives(Channel tunnel) {
    long idle = rt.limits.idleTimeout().toNanos();
    if (idle <= 0) {
      return;
    }
    var timer = tunnel.eventLoop().schedule(() -> {
      if (tunnel.isActive() && tunnel.pipeline().get("sniff") != null) {
        rt.limits.stats().idleTimeout();
        TunnelChannels.endThenClose(tunnel, Waypoint.DELAYED_CLOSE_MILLIS);
      }
    }, idle, java.util.concurrent.TimeUnit.NANOSECONDS);
    tunnel.closeFuture().addListener(f -> timer.cancel(false));
  }

  /** Plain byte relay to one endpoint: a host of {@code cluster}, or the workload itself. */
  private void l4(Cluster cluster, Workload workload, int port, ConnectResponder responder, ConnectRequest req) {
    UpstreamHost host = null;
    InetAddress address;
    int targetPort;
    String identity;
    if (cluster != null) {
      host = cluster.pick(rt.ticker.nanoTime(), rt.random);
      if (host == null) {
        responder.refuse(503, "no healthy endpoint for " + cluster);
        return;
      }
      address = host.address();
      targetPort = host.targetPort();
      identity = host.workload().spiffeId();
    } else {
      address = req.target().ipAddress();
      targetPort = port;
      identity = workload.spiffeId();
    }
    String ip = address.getHostAddress();
    String authority = (ip.indexOf(':') >= 0 ? "[" + ip + "]" : ip) + ":" + targetPort;
    ConnectTarget target = new ConnectTarget(rt.identity, Set.of(SpiffeId.parse(identity)),
        new InetSocketAddress(address, 15008), authority, Map.of());
    UpstreamHost picked = host;
    if (picked != null) {
      picked.requestStarted();
    }
    rt.connector.connect(target, responder.eventLoop()).whenComplete((up, err) -> responder.eventLoop().execute(() -> {
      if (err != null) {
        if (picked != null) {
          picked.requestEnded();
          rt.telemetry.outcome(cluster, picked, 503, true, rt.ticker.nanoTime());
        }
        log.debug("L4 upstream {} failed: {}", authority, err.getMessage());
        responder.refuse(503, "upstream " + authority + " unreachable: " + err.getMessage());
        return;
      }
      Channel down = responder.accept();
      TunnelDrain.track(rt.drain, down, up);
      Relay.start(down, up, (ab, ba, cause) -> {
        if (picked != null) {
          picked.requestEnded();
        }
      });
    }));
  }

  /** The client's address: {@code forwarded: for="ip:port"} from ztunnel when present, else the peer. */
  static InetSocketAddress sourceAddress(ConnectRequest req) {
    String fwd = req.forwarded();
    if (fwd != null) {
      int i = fwd.toLowerCase(java.util.Locale.ROOT).indexOf("for=");
      if (i >= 0) {
        String v = fwd.substring(i + 4);
        int end = v.indexOf(';');
        if (end >= 0) {
          v = v.substring(0, end);
        }
        end = v.indexOf(',');
        if (end >= 0) {
          v = v.substring(0, end);
        }
        v = v.replace("\"", "").trim();
        try {
          var hp = dev.ambientj.hbone.HostAndPort.parse(v.contains(":") && !v.startsWith("[") && v.indexOf(':') == v.lastIndexOf(':') ? v : v + ":0");
          if (hp.isIpLiteral()) {
            return new InetSocketAddress(hp.ipAddress(), hp.port());
          }
        } catch (RuntimeException ignored) {
          // fall back to the peer address
        }
      }
    }
    return req.peerAddress();
  }
}
