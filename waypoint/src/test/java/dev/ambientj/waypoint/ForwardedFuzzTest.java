package dev.ambientj.waypoint;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.charset.StandardCharsets;
import dev.ambientj.hbone.ConnectRequest;
import dev.ambientj.hbone.HostAndPort;
import dev.ambientj.hbone.identity.SpiffeId;
import java.net.InetSocketAddress;

/**
 * Fuzzes how the waypoint finds the client's address in a CONNECT's {@code forwarded} header
 * ({@link WaypointConnectHandler#sourceAddress}; RFC 7239 {@code for=}, which ztunnel sets and the
 * waypoint's authorization and access log use). The waypoint reads no {@code X-Forwarded-For}: this
 * header is where a forwarded client address comes in. Input: the header value.
 *
 * <p>A finding: an exception, or no address at all (the peer's is the fallback).
 */
class ForwardedFuzzTest {
  private static final InetSocketAddress PEER = new InetSocketAddress("127.0.1.10", 40000);
  private static final InetSocketAddress LOCAL = new InetSocketAddress("127.0.1.30", 15008);

  @FuzzTest
  void header(byte[] input) {
    String forwarded = new String(input, StandardCharsets.UTF_8);
    ConnectRequest req = new ConnectRequest(SpiffeId.parse("spiffe://cluster.local/ns/production/sa/api-gateway"),
        PEER, LOCAL, "127.10.0.20:80", HostAndPort.parse("127.10.0.20:80"), null, forwarded, null);
    InetSocketAddress source = WaypointConnectHandler.sourceAddress(req);
    assertThat(source).isNotNull();
  }
}
