package dev.ambientj.config.xds;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import java.time.Instant;
import java.util.Map;

/**
 * Where one connected proxy stands against the config server's current snapshot, as istiod's
 * syncz reports it: {@code SYNCED} (every type it subscribed to holds the current snapshot),
 * {@code STALE} (a push is in flight or not yet ACKed), or {@code NACK} (it refused a push; the
 * message says why). Sent to {@code mesh proxy-status} as a {@code google.protobuf.Struct}.
 *
 * @param id the xDS node id ({@code ztunnel~IP~pod.ns~…})
 * @param kind {@code ztunnel}, {@code waypoint}, or the node id's first field
 * @param node the Kubernetes node it runs on, when known
 * @param version the snapshot version it holds (the oldest of its types), or empty
 * @param nackMessage the last NACK's message, or empty
 */
public record ProxySyncStatus(String id, String kind, String node, String status, String version,
    String currentVersion, String nackMessage, Instant connectedAt) {

  /** One type's state: the snapshot version held, the one in flight, the last NACK (or null). */
  public record TypeStatus(String syncedVersion, String inFlightVersion, String nackMessage) {}

  static ProxySyncStatus of(ProxyNode node, Instant connectedAt, String currentVersion,
      Map<String, TypeStatus> types) {
    String status = "SYNCED";
    String nack = "";
    String held = currentVersion;
    for (TypeStatus t : types.values()) {
      if (t.nackMessage() != null) {
        status = "NACK";
        nack = t.nackMessage();
      } else if (!status.equals("NACK")
          && (t.inFlightVersion() != null || !currentVersion.equals(t.syncedVersion()))) {
        status = "STALE";
      }
      if (t.syncedVersion() == null) {
        held = "";
      } else if (!held.isEmpty() && older(t.syncedVersion(), held)) {
        held = t.syncedVersion();
      }
    }
    return new ProxySyncStatus(node.id(), node.type().isEmpty() ? "unknown" : node.type(),
        node.nodeName(), status, held, currentVersion, nack, connectedAt);
  }

  private static boolean older(String a, String b) {
    try {
      return Long.parseLong(a) < Long.parseLong(b);
    } catch (NumberFormatException e) {
      return a.compareTo(b) < 0;
    }
  }

  Struct toStruct() {
    return Struct.newBuilder()
        .putFields("id", text(id)).putFields("kind", text(kind)).putFields("node", text(node))
        .putFields("status", text(status)).putFields("version", text(version))
        .putFields("currentVersion", text(currentVersion)).putFields("nack", text(nackMessage))
        .putFields("connectedAt", text(connectedAt.toString()))
        .build();
  }

  /** The status a {@link #toStruct()} carried. */
  public static ProxySyncStatus fromStruct(Struct s) {
    Map<String, Value> f = s.getFieldsMap();
    return new ProxySyncStatus(get(f, "id"), get(f, "kind"), get(f, "node"), get(f, "status"),
        get(f, "version"), get(f, "currentVersion"), get(f, "nack"),
        Instant.parse(get(f, "connectedAt").isEmpty() ? Instant.EPOCH.toString() : get(f, "connectedAt")));
  }

  private static Value text(String s) {
    return Value.newBuilder().setStringValue(s == null ? "" : s).build();
  }

  private static String get(Map<String, Value> f, String name) {
    Value v = f.get(name);
    return v == null ? "" : v.getStringValue();
  }
}
