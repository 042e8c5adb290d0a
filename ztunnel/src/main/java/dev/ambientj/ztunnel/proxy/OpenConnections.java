package dev.ambientj.ztunnel.proxy;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The connections this ztunnel is proxying right now, in and out, as ztunnel's
 * {@code /config_dump} lists them under {@code workloadState} (and {@code istioctl ztunnel-config
 * connections} prints them). A connection is listed from {@link ConnectionTelemetry#opened()} to its
 * {@link ConnectionTelemetry#closed}.
 *
 * <p>Thread-safe: connections come and go on every event loop; the admin thread takes copies.
 */
public final class OpenConnections {
  private final Set<ConnectionTelemetry> open = ConcurrentHashMap.newKeySet();

  /**
   * One open connection of the workload {@code workloadUid} (outbound: the source; inbound: the
   * destination): {@code src} is the client's address, {@code actualDst} where ztunnel
   * sends it (outbound: the HBONE target or the endpoint; inbound: the address it arrived on),
   * {@code originalDst} what the client asked for (outbound: the address the app dialed; inbound:
   * the service hostname, or null). Protocol {@code HBONE} or {@code TCP}.
   */
  public record OpenConnection(String workloadUid, String direction, InetSocketAddress src, String originalDst,
      InetSocketAddress actualDst, String protocol) {
    public boolean inbound() {
      return direction.equals("inbound");
    }
  }

  void add(ConnectionTelemetry connection) {
    open.add(connection);
  }

  void remove(ConnectionTelemetry connection) {
    open.remove(connection);
  }

  /** A copy of the open connections. */
  public List<OpenConnection> list() {
    List<OpenConnection> list = new ArrayList<>(open.size());
    for (ConnectionTelemetry c : open) {
      list.add(c.describe());
    }
    return list;
  }

  public int size() {
    return open.size();
  }
}
