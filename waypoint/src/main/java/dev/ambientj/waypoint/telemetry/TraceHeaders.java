package dev.ambientj.waypoint.telemetry;

import io.netty.handler.codec.http.HttpHeaders;
import java.util.HexFormat;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Request id and trace context, as Envoy's connection manager handles them: {@code x-request-id}
 * is generated when absent; W3C {@code traceparent} is continued with a new span id (created when
 * absent); B3 headers ({@code x-b3-traceid}, {@code x-b3-spanid}, {@code x-b3-parentspanid},
 * {@code x-b3-sampled}) are kept consistent with it.
 */
public final class TraceHeaders {
  private static final HexFormat HEX = HexFormat.of();

  private TraceHeaders() {}

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
   * Continues (or starts) the trace for the hop to the upstream: a new span whose parent is the
   * incoming span. Returns the new {@code traceparent}.
   */
  public static String propagate(HttpHeaders h) {
    ThreadLocalRandom rnd = ThreadLocalRandom.current();
    String traceId = null;
    String parentSpan = null;
    String flags = "01";
    String tp = h.get("traceparent");
    if (isTraceparent(tp)) {
      traceId = tp.substring(3, 35);
      parentSpan = tp.substring(36, 52);
      flags = tp.substring(53, 55);
    } else {
      String b3 = h.get("x-b3-traceid");
      if (b3 != null && (b3.length() == 32 || b3.length() == 16) && isId(b3)) {
        traceId = b3.length() == 16 ? "0000000000000000" + b3 : b3;
        parentSpan = h.get("x-b3-spanid");
        String sampled = h.get("x-b3-sampled");
        flags = "0".equals(sampled) ? "00" : "01";
      }
    }
    if (traceId == null) {
      traceId = HEX.toHexDigits(rnd.nextLong()) + HEX.toHexDigits(rnd.nextLong());
    }
    String span = HEX.toHexDigits(rnd.nextLong());
    String out = "00-" + traceId + "-" + span + "-" + flags;
    h.set("traceparent", out);
    h.set("x-b3-traceid", traceId);
    h.set("x-b3-spanid", span);
    if (parentSpan != null && parentSpan.length() == 16 && isId(parentSpan)) {
      h.set("x-b3-parentspanid", parentSpan);
    } else {
      h.remove("x-b3-parentspanid");
    }
    h.set("x-b3-sampled", flags.equals("00") ? "0" : "1");
    return out;
  }

  /**
   * A W3C {@code traceparent} we can continue: {@code vv-<32 hex>-<16 hex>-ff}, lower-case hex,
   * version not {@code ff}, ids not all zero. Anything else starts a new trace (W3C Trace Context
   * §3.2.2): a client's text is never carried on as the trace id.
   */
  private static boolean isTraceparent(String tp) {
    return tp != null && tp.length() == 55 && tp.charAt(2) == '-' && tp.charAt(35) == '-' && tp.charAt(52) == '-'
        && isHex(tp, 0, 2) && !tp.startsWith("ff") && isId(tp.substring(3, 35)) && isId(tp.substring(36, 52))
        && isHex(tp, 53, 55);
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
