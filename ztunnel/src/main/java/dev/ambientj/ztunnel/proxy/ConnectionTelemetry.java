package dev.ambientj.ztunnel.proxy;

import dev.ambientj.hbone.HostAndPort;
import dev.ambientj.ztunnel.telemetry.AccessLog;
import dev.ambientj.ztunnel.telemetry.ConnectionMeters;
import dev.ambientj.ztunnel.telemetry.ConnectionRecord;
import dev.ambientj.ztunnel.telemetry.PeerLabels;
import dev.ambientj.ztunnel.telemetry.Reporter;
import dev.ambientj.ztunnel.telemetry.ServiceLabels;
import dev.ambientj.ztunnel.telemetry.TrafficMetrics;
import io.netty.util.NetUtil;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;

/**
 * The metrics and access-log line of one proxied connection. {@link #opened()} once the
 * destination is known, then exactly one {@link #closed}. Used from one event loop at a time.
 *
 * <p>Field meanings follow ztunnel: {@code dstAddr} is the next hop (outbound) or the address the
 * connection arrived on (inbound); identities are {@code spiffe://…} and only set when proven or
 * expected over mTLS.
 */
public final class ConnectionTelemetry {
  private final TrafficMetrics metrics;
  private final AccessLog accessLog;
  private final Reporter reporter;
  private final OpenConnections open;
  private final String workloadUid;
  private final long startNanos;

  private InetSocketAddress srcAddr;
  private PeerLabels source = PeerLabels.UNKNOWN;
  private String srcIdentity;
  private InetSocketAddress dstAddr;
  private InetSocketAddress originalDst;
  private String hboneAddr;
  private ServiceLabels service = ServiceLabels.UNKNOWN;
  private PeerLabels destination = PeerLabels.UNKNOWN;
  private String dstIdentity;
  private boolean mutualTls;
  private String policy;
  private boolean opened;
  private boolean closed;

  ConnectionTelemetry(TrafficMetrics metrics, AccessLog accessLog, Reporter reporter,
      String workloadUid, OpenConnections open) {
    this.workloadUid = workloadUid;
    this.metrics = metrics;
    this.accessLog = accessLog;
    this.reporter = reporter;
    this.open = open;
    this.startNanos = System.nanoTime();
  }

  public ConnectionTelemetry source(InetSocketAddress address, PeerLabels labels, String identity) {
    this.srcAddr = address;
    this.source = labels == null ? PeerLabels.UNKNOWN : labels;
    this.srcIdentity = identity;
    return this;
  }

  public ConnectionTelemetry destination(InetSocketAddress address, PeerLabels labels,
      String identity) {
    this.dstAddr = address;
    this.destination = labels == null ? PeerLabels.UNKNOWN : labels;
    this.dstIdentity = identity;
    return this;
  }

  /** Outbound: the address the app dialed (a service VIP, a pod), before resolution. */
  public ConnectionTelemetry originalDestination(InetSocketAddress address) {
    this.originalDst = address;
    return this;
  }

  public ConnectionTelemetry hbone(String authority) {
    this.hboneAddr = authority;
    this.mutualTls = true;
    return this;
  }

  public ConnectionTelemetry service(ServiceLabels labels) {
    this.service = labels == null ? ServiceLabels.UNKNOWN : labels;
    return this;
  }

  /** The policy that decided ({@code ns/name}), for the access log; null for none. */
  public ConnectionTelemetry policy(String policy) {
    this.policy = policy;
    return this;
  }

  /**
   * Counts the connection as opened and lists it in {@link OpenConnections} until {@link #closed};
   * what {@link #describe()} reads must be set before this call.
   */
  public void opened() {
    if (!opened) {
      opened = true;
      meters(TrafficMetrics.NO_FLAGS).opened().increment();
      if (!closed) {
        open.add(this);
      }
    }
  }

  /**
   * Counts the connection as closed and writes the access-log line (once; later calls are ignored).
   *
   * @param requestBytes client to server
   * @param responseBytes server to client
   * @param error null on success
   * @param flags {@link TrafficMetrics#NO_FLAGS} or a response flag
   */
  public void closed(long requestBytes, long responseBytes, String error, String flags) {
    if (closed) {
      return;
    }
    closed = true;
    if (opened) {
      open.remove(this);
      meters(flags).recordClose(requestBytes, responseBytes);
    }
    long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
    accessLog.log(new ConnectionRecord(
        reporter == Reporter.SOURCE ? "outbound" : "inbound",
        format(srcAddr),
        known(source.workload()),
        known(source.namespace()),
        srcIdentity,
        format(dstAddr),
        hboneAddr,
        known(service.hostname()),
        known(destination.workload()),
        known(destination.namespace()),
        dstIdentity,
        requestBytes,
        responseBytes,
        millis,
        error,
        TrafficMetrics.NO_FLAGS.equals(flags) ? null : flags,
        policy));
  }

  /**
   * {@link #closed(long, long, String, String)} for a relay that ended with {@code cause} (null:
   * normally): a relay the drain ended is logged with {@link ConnectionDrain#ERROR} and the flag
   * {@link TrafficMetrics#FLAG_DRAIN}.
   */
  public void closed(long requestBytes, long responseBytes, Throwable cause) {
    if (cause instanceof ConnectionDrain.Ended) {
      closed(requestBytes, responseBytes, ConnectionDrain.ERROR, TrafficMetrics.FLAG_DRAIN);
    } else {
      closed(requestBytes, responseBytes, cause == null ? null : ProxyContext.describe(cause),
          TrafficMetrics.NO_FLAGS);
    }
  }

  /** This connection as {@code /config_dump} lists it (fields set before {@link #opened()}). */
  OpenConnections.OpenConnection describe() {
    boolean outbound = reporter == Reporter.SOURCE;
    // over HBONE the CONNECT authority is the destination pod's address (dstAddr: the tunnel's)
    InetSocketAddress target = hboneAddr == null ? null : authorityAddress(hboneAddr);
    InetSocketAddress actual = target != null ? target : dstAddr;
    String original = outbound ? (originalDst == null ? null : format(originalDst))
        : known(service.hostname());
    return new OpenConnections.OpenConnection(workloadUid, outbound ? "outbound" : "inbound",
        srcAddr, original,
        actual, mutualTls ? "HBONE" : "TCP");
  }

  /** An {@code ip:port} / {@code [ipv6]:port} authority as a socket address; null for a hostname. */
  private static InetSocketAddress authorityAddress(String authority) {
    try {
      HostAndPort target = HostAndPort.parse(authority);
      return target.isIpLiteral()
          ? new InetSocketAddress(NetUtil.createInetAddressFromIpAddressString(target.host()), target.port())
          : null;
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  private ConnectionMeters meters(String flags) {
    return metrics.meters(reporter, source, destination, service, mutualTls, flags);
  }

  private static String known(String value) {
    return value == null || value.equals("unknown") ? null : value;
  }

  private static String format(InetSocketAddress a) {
    return a == null ? null : NetUtil.toSocketAddressString(a);
  }
}
