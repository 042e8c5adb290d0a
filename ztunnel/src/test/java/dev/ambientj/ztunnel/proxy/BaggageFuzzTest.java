package dev.ambientj.ztunnel.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.charset.StandardCharsets;

/**
 * Fuzzes the {@code baggage} header of an inbound HBONE CONNECT as ztunnel reads it ({@link
 * Baggage#parse}): any peer in the mesh chooses it, and its values become metric labels. Input: the
 * header value (UTF-8). Seeds: {@code BaggageFuzzTestInputs/header/}. A finding: an exception.
 */
class BaggageFuzzTest {

  @FuzzTest
  void header(byte[] input) {
    String baggage = new String(input, StandardCharsets.UTF_8);
    assertThat(Baggage.parse(baggage, "spiffe://cluster.local/ns/default/sa/client")).isNotNull();
  }
}
