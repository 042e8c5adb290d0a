package dev.ambientj.waypoint.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.charset.StandardCharsets;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;

/**
 * Fuzzes the trace context the waypoint continues ({@link TraceHeaders}): a client's {@code
 * traceparent}, B3 headers (multi and single {@code b3}) and {@code x-request-id}, as the HTTP
 * codecs let them through (header values without CR, LF or NUL). Input: UTF-8 text, one line per
 * header in {@link #NAMES} order (an empty line: the header is absent).
 *
 * <p>A finding: an exception, a continued id that is not a valid one, an outgoing {@code
 * traceparent} that is not a valid W3C one ({@code 00-<32 hex>-<16 hex>-<2 hex>}, trace id not all
 * zero) — the next hop would drop the trace or, worse, carry the client's text on — or B3 headers
 * that disagree with it.
 */
class TraceHeadersFuzzTest {
  private static final String[] NAMES = {"traceparent", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-request-id",
      "b3", "x-b3-flags"};
  private static final java.util.regex.Pattern TRACEPARENT =
      java.util.regex.Pattern.compile("00-(?!0{32})[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}");

  @FuzzTest
  void headers(byte[] input) {
    HttpHeaders h = new DefaultHttpHeaders();
    String[] values = new String(input, StandardCharsets.UTF_8).split("\n", -1);
    for (int i = 0; i < NAMES.length && i < values.length; i++) {
      String v = values[i];
      if (!v.isEmpty() && v.chars().noneMatch(c -> c == '\r' || c == 0)) {
        h.set(NAMES[i], v);
      }
    }
    String id = TraceHeaders.ensureRequestId(h);
    assertThat(id).isNotEmpty().isEqualTo(h.get("x-request-id"));
    TraceHeaders.Incoming in = TraceHeaders.extract(h);
    if (in.hasParent()) {
      assertThat(in.traceId()).as("continued trace id").matches("(?!0{32})[0-9a-f]{32}");
      assertThat(in.spanId()).as("parent span id").matches("(?!0{16})[0-9a-f]{16}");
    } else {
      assertThat(in.spanId()).isNull();
    }
    String traceId = in.hasParent() ? in.traceId() : "0af7651916cd43dd8448eb211c80319c";
    TraceHeaders.inject(h, traceId, "b7ad6b7169203331", "00f067aa0ba902b7", !Boolean.FALSE.equals(in.sampled()));
    String tp = h.get("traceparent");
    assertThat(tp).as("outgoing traceparent").matches(TRACEPARENT);
    assertThat(TraceHeaders.extract(h).traceId()).as("what the next hop reads").isEqualTo(traceId);
    assertThat(h.get("x-b3-traceid")).as("B3 trace id = traceparent's").isEqualTo(tp.substring(3, 35));
    assertThat(h.get("x-b3-spanid")).as("B3 span id = traceparent's").isEqualTo(tp.substring(36, 52));
  }
}
