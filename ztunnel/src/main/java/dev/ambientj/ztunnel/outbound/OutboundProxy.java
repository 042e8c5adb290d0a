package dev.ambientj.ztunnel.outbound;

import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Workload;
import dev.ambientj.hbone.ConnectTarget;
import dev.ambientj.hbone.HboneException;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.hbone.transport.ConnectionLimiter;
import dev.ambientj.hbone.transport.SocketOrigin;
import dev.ambientj.ztunnel.fairness.WorkloadBudgets;
import dev.ambientj.ztunnel.proxy.ConnectionTelemetry;
import dev.ambientj.ztunnel.proxy.ProxyContext;
import dev.ambientj.ztunnel.proxy.Relays;
import dev.ambientj.ztunnel.proxy.WorkloadInfo;
import dev.ambientj.ztunnel.telemetry.PeerLabels;
import dev.ambientj.ztunnel.telemetry.Reporter;
import dev.ambientj.ztunnel.telemetry.TrafficMetrics;
import io.netty.channel.Channel;
import io.netty.channel.ConnectTimeoutException;
import io.netty.util.NetUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetSocketAddress;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The outbound data path shared by the SOCKS5 (15080) and capture (15001) front ends: resolve the
 * destination ({@link OutboundResolver}), connect upstream — HBONE with the source workload's
 * certificate, or plain TCP — then relay.
 *
 * <p>Lifecycle of one connection: front end calls {@link #connect} with auto-read off; the route is
 * computed from one snapshot; the upstream is connected (TCP on the downstream's event loop; HBONE
 * through the pooled client); {@link OutboundCallback#onConnected()} lets the front end reply; the
 * relay starts. Any failure goes to {@link OutboundCallback#onFailed} and the access log.
 *
 * <p>Deadline: the upstream connect (TCP, or HBONE with certificate, TLS handshake and CONNECT
 * response) must finish within {@code ProxyLimits.connectTimeout()}, else the front end is told
 * {@link OutboundCallback.Failure#TIMED_OUT} and the connect is cancelled. A downstream that closes
 * while the upstream connects cancels the connect at once.
 *
 * <p>Threading: callbacks and relay start always run on the downstream channel's event loop. An
 * upstream that arrives after its attempt ended is closed.
 */
public final class OutboundProxy {
  private static final Logger log = LoggerFactory.getLogger(OutboundProxy.class);

  private final ProxyContext ctx;
  private final OutboundResolver resolver;

  public OutboundProxy(ProxyContext ctx) {
    this.ctx = ctx;
    this.resolver = new OutboundResolver(ctx.random());
  }

  /**
   * Proxies {@code downstream} (auto-read off) from the workload {@code sourceUid} to
   * {@code destination}. {@code requestedHost} is the host name a SOCKS client asked for, or null.
   */
  void connect(Channel downstream, String sourceUid, InetSocketAddress destination,
      String requestedHost, OutboundCallback callback) {
    MeshSnapshot snapshot = ctx.snapshot();
    Workload source = snapshot.findWorkloadByUid(sourceUid).orElse(null);
    InetSocketAddress client = (InetSocketAddress) downstream.remoteAddress();
    ConnectionTelemetry telemetry =
        ctx.telemetry(Reporter.SOURCE, sourceUid).originalDestination(destination);
    if (source == null) {
      telemetry.source(client, PeerLabels.UNKNOWN, null).destination(destination, null, null);
      fail(telemetry, callback, OutboundCallback.Failure.REFUSED,
          "unknown source workload " + sourceUid + ": it left the mesh configuration");
      return;
    }
    WorkloadInfo src = ctx.infos().info(source);
    telemetry.source(client, src.labels(), null);
    WorkloadBudgets.Refusal overBudget =
        ctx.workloadBudgets().admitOutbound(source, downstream.closeFuture());
    if (overBudget != null) {
      telemetry.destination(destination, null, null);
      fail(telemetry, callback, OutboundCallback.Failure.OVERLOADED, overBudget.message(),
          TrafficMetrics.FLAG_OVER_BUDGET);
      return;
    }
    OutboundRoute route = resolver.resolve(snapshot, source, destination);
    switch (route) {
      case OutboundRoute.Refused r -> {
        telemetry.destination(destination, null, null);
        fail(telemetry, callback, OutboundCallback.Failure.REFUSED, r.reason() + ": " + r.message());
      }
      case OutboundRoute.Passthrough p -> {
        telemetry.destination(p.originalDestination(), null, null);
        connectTcp(downstream, p.originalDestination(), ctx.binder().origin(sourceUid), telemetry,
            callback);
      }
      case OutboundRoute.PlainTcp t -> {
        telemetry.destination(t.target(), ctx.infos().labels(t.destination()), null)
            .service(ctx.infos().labels(t.service()));
        connectTcp(downstream, t.target(), ctx.binder().origin(sourceUid), telemetry, callback);
      }
      case OutboundRoute.Hbone h -> connectHbone(downstream, src, client, h, telemetry, callback);
    }
  }

  private void connectTcp(Channel downstream, InetSocketAddress target, SocketOrigin origin,
      ConnectionTelemetry telemetry, OutboundCallback callback) {
    telemetry.opened();
    Attempt attempt = new Attempt(downstream, telemetry, callback,
        "connection to " + NetUtil.toSocketAddressString(target));
    Future<Channel> connect = ctx.connectTcp(downstream.eventLoop(), target, origin);
    attempt.watch(() -> connect.cancel(false));
    connect.addListener(f -> {
      if (f.isCancelled()) {
        return; // the attempt gave up and has been reported
      }
      if (!f.isSuccess()) {
        // The socket's own connect timeout is the same deadline: report it the same way.
        OutboundCallback.Failure failure = switch (f.cause()) {
          case ProxyContext.ConnectionLimitException e -> OutboundCallback.Failure.OVERLOADED;
          case ConnectTimeoutException e -> OutboundCallback.Failure.TIMED_OUT;
          default -> OutboundCallback.Failure.CONNECT_FAILED;
        };
        attempt.failed(failure, "connection to " + NetUtil.toSocketAddressString(target)
            + " failed: " + ProxyContext.describe(f.cause()), TrafficMetrics.FLAG_CONNECT);
        return;
      }
      attempt.succeeded(connect.getNow());
    });
  }

  private void connectHbone(Channel downstream, WorkloadInfo source, InetSocketAddress client,
      OutboundRoute.Hbone route, ConnectionTelemetry telemetry, OutboundCallback callback) {
    telemetry.destination(route.nextHop(), ctx.infos().labels(route.destination()),
            route.expectedIdentity())
        .hbone(route.authority())
        .service(ctx.infos().labels(route.service()));
    SpiffeId expected;
    try {
      expected = SpiffeId.parse(route.expectedIdentity());
    } catch (IllegalArgumentException e) {
      fail(telemetry, callback, OutboundCallback.Failure.REFUSED,
          "destination identity is invalid: " + e.getMessage());
      return;
    }
    if (source.identity() == null) {
      fail(telemetry, callback, OutboundCallback.Failure.REFUSED,
          "source workload " + source.workload().name() + " has an invalid identity "
              + source.workload().spiffeId());
      return;
    }
    telemetry.source(client, source.labels(), source.identity().toString());
    telemetry.opened();
    Map<String, String> headers = new LinkedHashMap<>(4);
    headers.put("baggage", source.baggage());
    String forwarded = "for=\"" + NetUtil.toSocketAddressString(client) + "\"";
    if (route.service() != null) {
      forwarded += ";host=" + route.service().hostname();
    }
    headers.put("forwarded", forwarded);
    headers.put("traceparent", traceparent());
    ConnectTarget target = new ConnectTarget(source.identity(), Set.of(expected), route.nextHop(),
        route.authority(), headers);
    String what = "HBONE connection to " + NetUtil.toSocketAddressString(route.nextHop())
        + " (authority " + route.authority() + ")";
    Attempt attempt = new Attempt(downstream, telemetry, callback, what);
    CompletableFuture<Channel> connect = ctx.hboneClient()
        .connect(target, ctx.binder().origin(source.workload().uid()), downstream.eventLoop());
    attempt.watch(() -> connect.cancel(false));
    connect.whenComplete((tunnel, error) -> downstream.eventLoop().execute(() -> {
      if (error != null) {
        String flags = responseFlags(error);
        attempt.failed(flags.equals(TrafficMetrics.FLAG_DENY)
                ? OutboundCallback.Failure.REFUSED : OutboundCallback.Failure.CONNECT_FAILED,
            what + " failed: " + ProxyContext.describe(error), flags);
        return;
      }
      attempt.succeeded(tunnel);
    }));
  }

  private static void fail(ConnectionTelemetry telemetry, OutboundCallback callback,
      OutboundCallback.Failure failure, String message) {
    fail(telemetry, callback, failure, message, TrafficMetrics.NO_FLAGS);
  }

  private static void fail(ConnectionTelemetry telemetry, OutboundCallback callback,
      OutboundCallback.Failure failure, String message, String flags) {
    log.debug("outbound connection failed: {}", message);
    telemetry.closed(0, 0, message, flags);
    callback.onFailed(failure, message);
  }

  /**
   * One upstream connect on behalf of a downstream connection, confined to the downstream's event
   * loop. It ends exactly once: connected (the relay starts and the downstream leaves its
   * handshake phase), failed, timed out at the connect deadline, or abandoned because the
   * downstream closed; in the last two cases the pending connect is cancelled, and an upstream
   * that arrives afterwards is closed.
   */
  private final class Attempt {
    private final Channel downstream;
    private final ConnectionTelemetry telemetry;
    private final OutboundCallback callback;
    private final String what;
    private boolean settled;
    private ScheduledFuture<?> deadline;

    Attempt(Channel downstream, ConnectionTelemetry telemetry, OutboundCallback callback,
        String what) {
      this.downstream = downstream;
      this.telemetry = telemetry;
      this.callback = callback;
      this.what = what;
    }

    /** Starts the deadline and the watch on the downstream; {@code cancel} abandons the connect. */
    void watch(Runnable cancel) {
      long timeout = ctx.limits().connectTimeout().toMillis();
      deadline = downstream.eventLoop().schedule(() -> {
        if (!settled) {
          failed(OutboundCallback.Failure.TIMED_OUT, what + " timed out after " + timeout
              + " ms (the connect deadline)", TrafficMetrics.FLAG_CONNECT);
          cancel.run();
        }
      }, timeout, TimeUnit.MILLISECONDS);
      downstream.closeFuture().addListener(f -> {
        if (!settled) {
          settle();
          cancel.run();
          telemetry.closed(0, 0, "client closed the connection before the upstream was ready",
              TrafficMetrics.NO_FLAGS);
        }
      });
    }

    void succeeded(Channel upstream) {
      if (settled) {
        upstream.close();
        return;
      }
      settle();
      if (!downstream.isActive()) {
        upstream.close();
        telemetry.closed(0, 0, "client closed the connection before the upstream was ready",
            TrafficMetrics.NO_FLAGS);
        return;
      }
      callback.onConnected();
      ConnectionLimiter.handshakeDone(downstream);
      Relays.start(downstream, upstream,
          (sent, received, cause) -> telemetry.closed(sent, received, cause));
    }

    void failed(OutboundCallback.Failure failure, String message, String flags) {
      if (settled) {
        return;
      }
      settle();
      fail(telemetry, callback, failure, message, flags);
    }

    private void settle() {
      settled = true;
      if (deadline != null) {
        deadline.cancel(false);
      }
    }
  }

  /** The Istio {@code response_flags} for a failed HBONE connect. */
  static String responseFlags(Throwable error) {
    Throwable c = error;
    while (c instanceof CompletionException && c.getCause() != null) {
      c = c.getCause();
    }
    if (c instanceof HboneException h) {
      return switch (h.kind()) {
        case TLS_FAILURE -> TrafficMetrics.FLAG_TLS_FAILURE;
        case IDENTITY_MISMATCH -> TrafficMetrics.FLAG_IDENTITY_ERROR;
        case HTTP_STATUS -> h.httpStatus() == 401 ? TrafficMetrics.FLAG_DENY : TrafficMetrics.FLAG_CONNECT;
        default -> TrafficMetrics.FLAG_CONNECT;
      };
    }
    return TrafficMetrics.FLAG_CONNECT;
  }

  /** A fresh W3C traceparent: {@code 00-<32 hex trace id>-<16 hex parent id>-00}. */
  static String traceparent() {
    ThreadLocalRandom r = ThreadLocalRandom.current();
    return "00-" + hex(r.nextLong()) + hex(r.nextLong()) + "-" + hex(r.nextLong()) + "-00";
  }

  private static String hex(long v) {
    String s = Long.toHexString(v);
    return "0".repeat(16 - s.length()) + s;
  }
}
