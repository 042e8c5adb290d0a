package dev.ambientj.waypoint.telemetry;

import io.netty.handler.codec.http.HttpHeaders;
import java.util.UUID;

/**
 * Request id and trace context headers, as Envoy's connection manager and tracers read and write
 * them: {@code x-request-id} is generated when absent; the incoming context is read from W3C
 * {@code traceparent}, else B3's single {@code b3} header, else B3's {@code x-b3-*} headers
 * ({@link #extract}); the outgoing one is written in all of them ({@link #inject}).
 *
 * <p>Nothing a client sends can make these methods throw or carry its text on: a malformed header
 * is ignored, as if absent (W3C Trace Context §3.2.2: a {@code traceparent} that does not parse
 * starts a new trace).
 */
public final class TraceHeaders {
  /** B3 single header ({@code b3: {traceid}-{spanid}[-{sampled}[-{parentspanid}]]} or {@code b3: {sampled}}). */
  public static final String B3 = "b3";

  private TraceHeaders() {}

  /**
   * The trace context a request arrived with.
   *
   * @param traceId 32 lower-case hex digits (a 64-bit B3 id is left-padded with zeros), or null:
   *     no parent, the waypoint starts the trace
   * @param spanId the caller's span, 16 hex digits; null exactly when {@code traceId} is
   * @param sampled the caller's sampling decision, or null: none (B3 lets a caller defer it), the
   *     waypoint decides by its sampling percentage
   */
  public record Incoming(String traceId, String spanId, Boolean sampled) {
    static final Incoming NONE = new Incoming(null, null, null);

    public boolean hasParent() {
      return traceId != null;
    }
  }

  /** Ensures {@code x-request-id}; returns it. */
  public static String ensureRequestId(HttpHeaders h) {
    String id = h.get("x-request-id");
    if (id == null || id.isEmpty()) {
      id = UUID.randomUUID().toString();
      h.set("x-request-id", id);
    }
    return id;
  }

  /**
   * The context of {@code h}: {@code traceparent} if it parses, else {@code b3} if it parses, else
   * {@code x-b3-traceid}/{@code x-b3-spanid}/{@code x-b3-sampled}/{@code x-b3-flags} if they do;
   * else none. Never throws.
   */
  public static Incoming extract(HttpHeaders h) {
    Incoming w3c = traceparent(h.get("traceparent"));
    if (w3c != null) {
      return w3c;
    }
    Incoming single = b3Single(h.get(B3));
    if (single != null) {
      return single;
    }
    Incoming multi = b3Multi(h.get("x-b3-traceid"), h.get("x-b3-spanid"), h.get("x-b3-sampled"), h.get("x-b3-flags"));
    return multi != null ? multi : Incoming.NONE;
  }

  /**
   * Writes the context of the span the next hop continues ({@code spanId}, child of {@code
   * parentSpanId} or a root when null): {@code traceparent}, the {@code x-b3-*} headers and, when
   * the request carried one, the single {@code b3} header. {@code x-b3-flags} is removed (debug is
   * carried on as sampled). {@code tracestate} is left as it came.
   */
  public static void inject(HttpHeaders h, String traceId, String spanId, String parentSpanId, boolean sampled) {
    h.set("traceparent", "00-" + traceId + "-" + spanId + (sampled ? "-01" : "-00"));
    h.set("x-b3-traceid", traceId);
    h.set("x-b3-spanid", spanId);
    if (parentSpanId != null) {
      h.set("x-b3-parentspanid", parentSpanId);
    } else {
      h.remove("x-b3-parentspanid");
    }
    h.set("x-b3-sampled", sampled ? "1" : "0");
    h.remove("x-b3-flags");
    if (h.contains(B3)) {
      h.set(B3, traceId + "-" + spanId + (sampled ? "-1" : "-0") + (parentSpanId == null ? "" : "-" + parentSpanId));
    }
  }

  /**
   * {@code vv-<32 hex>-<16 hex>-ff}, lower-case hex, version not {@code ff}, ids not all zero; a
   * version-00 value is exactly 55 characters, a later version may carry more after a dash.
   */
  static Incoming traceparent(String tp) {
    if (tp == null || tp.length() < 55 || tp.charAt(2) != '-' || tp.charAt(35) != '-' || tp.charAt(52) != '-'
        || !isHex(tp, 0, 2) || tp.startsWith("ff") || !isHex(tp, 53, 55)
        || (tp.length() > 55 && (tp.startsWith("00") || tp.charAt(55) != '-'))) {
      return null;
    }
    String traceId = tp.substring(3, 35);
    String spanId = tp.substring(36, 52);
    if (!isId(traceId) || !isId(spanId)) {
      return null;
    }
    boolean sampled = (Character.digit(tp.charAt(54), 16) & 1) == 1;
    return new Incoming(traceId, spanId, sampled);
  }

  /** {@code b3: {traceid}-{spanid}[-{sampled}[-{parentspanid}]]}, or {@code b3: 0|1|d} alone. */
  static Incoming b3Single(String v) {
    if (v == null || v.isEmpty()) {
      return null;
    }
    if (v.length() == 1) {
      Boolean s = b3SamplingState(v);
      return s == null ? null : new Incoming(null, null, s);
    }
    String[] parts = v.split("-", -1);
    if (parts.length < 2 || parts.length > 4) {
      return null;
    }
    String traceId = traceId(parts[0]);
    String spanId = parts[1];
    if (traceId == null || spanId.length() != 16 || !isId(spanId)) {
      return null;
    }
    Boolean sampled = null;
    if (parts.length >= 3) {
      sampled = b3SamplingState(parts[2]);
      if (sampled == null) {
        return null;
      }
    }
    if (parts.length == 4 && (parts[3].length() != 16 || !isId(parts[3]))) {
      return null;
    }
    return new Incoming(traceId, spanId, sampled);
  }

  /** {@code x-b3-traceid} and {@code x-b3-spanid} (both, or neither), {@code x-b3-sampled}, {@code x-b3-flags}. */
  static Incoming b3Multi(String traceIdHeader, String spanIdHeader, String sampledHeader, String flagsHeader) {
    Boolean sampled = null;
    if ("1".equals(flagsHeader)) {
      sampled = true; // debug
    } else if (sampledHeader != null) {
      sampled = switch (sampledHeader) {
        case "1", "true" -> true;
        case "0", "false" -> false;
        default -> null;
      };
    }
    if (traceIdHeader == null && spanIdHeader == null) {
      return sampled == null ? null : new Incoming(null, null, sampled);
    }
    String traceId = traceIdHeader == null ? null : traceId(traceIdHeader);
    if (traceId == null || spanIdHeader == null || spanIdHeader.length() != 16 || !isId(spanIdHeader)) {
      return null;
    }
    return new Incoming(traceId, spanIdHeader, sampled);
  }

  private static Boolean b3SamplingState(String s) {
    return switch (s) {
      case "1", "d" -> true;
      case "0" -> false;
      default -> null;
    };
  }

  /** A B3 trace id (16 or 32 hex) as a 32-digit one, or null. */
  private static String traceId(String id) {
    if ((id.length() != 16 && id.length() != 32) || !isId(id)) {
      return null;
    }
    return id.length() == 16 ? "0000000000000000" + id : id;
  }

  /** Lower-case hex, not all zeros (W3C and B3 ids). */
  private static boolean isId(String id) {
    return isHex(id, 0, id.length()) && id.chars().anyMatch(c -> c != '0');
  }

  private static boolean isHex(String s, int from, int to) {
    for (int i = from; i < to; i++) {
      char c = s.charAt(i);
      if (!(c >= '0' && c <= '9' || c >= 'a' && c <= 'f')) {
        return false;
      }
    }
    return true;
  }
}
