package dev.ambientj.ztunnel.telemetry;

import java.time.Clock;
import java.time.Instant;

/**
 * Renders {@link ConnectionRecord}s as ztunnel-style JSON lines ({@code scope: access}, message
 * {@code connection complete}) and hands them to a sink.
 */
public final class AccessLog {
  private final AccessLogSink sink;
  private final Clock clock;

  public AccessLog(AccessLogSink sink, Clock clock) {
    this.sink = sink;
    this.clock = clock;
  }

  /** Lines the sink dropped because its writer fell behind (0 for sinks that never drop). */
  public long dropped() {
    return sink instanceof BatchingLineWriter w ? w.dropped() : 0;
  }

  public void log(ConnectionRecord r) {
    sink.accept(render(r, clock.instant()));
  }

  static String render(ConnectionRecord r, Instant now) {
    StringBuilder b = new StringBuilder(512);
    b.append('{');
    Json.field(b, "time", now.toString(), true);
    Json.field(b, "level", r.error() == null ? "info"
        : "DENY".equals(r.responseFlags()) ? "error" : "warn", false);
    Json.field(b, "scope", "access", false);
    Json.field(b, "message", "connection complete", false);
    Json.field(b, "src.addr", r.srcAddr(), false);
    Json.field(b, "src.workload", r.srcWorkload(), false);
    Json.field(b, "src.namespace", r.srcNamespace(), false);
    Json.field(b, "src.identity", r.srcIdentity(), false);
    Json.field(b, "dst.addr", r.dstAddr(), false);
    Json.field(b, "dst.hbone_addr", r.dstHboneAddr(), false);
    Json.field(b, "dst.service", r.dstService(), false);
    Json.field(b, "dst.workload", r.dstWorkload(), false);
    Json.field(b, "dst.namespace", r.dstNamespace(), false);
    Json.field(b, "dst.identity", r.dstIdentity(), false);
    Json.field(b, "direction", r.direction(), false);
    b.append(",\"bytes_sent\":").append(r.bytesSent());
    b.append(",\"bytes_recv\":").append(r.bytesRecv());
    Json.field(b, "duration", r.durationMillis() + "ms", false);
    Json.field(b, "error", r.error(), false);
    Json.field(b, "response_flags", r.responseFlags(), false);
    Json.field(b, "authz.policy", r.policy(), false);
    return b.append('}').toString();
  }
}
