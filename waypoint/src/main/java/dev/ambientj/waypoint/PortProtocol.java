package dev.ambientj.waypoint;

import dev.ambientj.config.model.ServicePort;
import java.util.Locale;

/**
 * The protocol of a service port, chosen as Istio does: {@code appProtocol} first, else the port
 * name's prefix ({@code http}, {@code http-web}, {@code grpc-api}, ...). Ports that declare neither
 * are TCP: ambient waypoints do not sniff the protocol of undeclared ports (declare it to get L7).
 */
enum PortProtocol {
  HTTP,
  HTTP2,
  GRPC,
  TCP;

  boolean isHttp() {
    return this != TCP;
  }

  /** True when the upstream must be spoken to in HTTP/2 whatever the client spoke. */
  boolean upstreamH2() {
    return this == HTTP2 || this == GRPC;
  }

  static PortProtocol of(ServicePort p) {
    if (p.appProtocol() != null && !p.appProtocol().isBlank()) {
      PortProtocol fromApp = parse(p.appProtocol().toLowerCase(Locale.ROOT));
      if (fromApp != null) {
        return fromApp;
      }
    }
    String name = p.name().toLowerCase(Locale.ROOT);
    int dash = name.indexOf('-');
    String prefix = dash < 0 ? name : name.substring(0, dash);
    if (name.startsWith("grpc-web")) {
      return GRPC;
    }
    PortProtocol fromName = parse(prefix);
    return fromName == null ? TCP : fromName;
  }

  private static PortProtocol parse(String s) {
    return switch (s) {
      case "http", "http1", "kubernetes.io/ws", "kubernetes.io/wss" -> HTTP;
      case "http2", "h2c", "kubernetes.io/h2c" -> HTTP2;
      case "grpc", "grpc-web" -> GRPC;
      case "tcp", "tls", "https", "mongo", "mysql", "redis", "udp", "hbone" -> TCP;
      default -> null;
    };
  }
}
