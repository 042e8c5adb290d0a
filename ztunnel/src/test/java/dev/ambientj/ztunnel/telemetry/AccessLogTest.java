package dev.ambientj.ztunnel.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import org.junit.jupiter.api.Test;

class AccessLogTest {

  @Test
  void rendersZtunnelFieldNames() {
    String line = AccessLog.render(new ConnectionRecord("inbound", "127.0.0.1:40000", "api-gateway",
        "production", "spiffe://cluster.local/ns/production/sa/api-gateway", "127.0.2.10:15008",
        "127.0.2.10:8080", "orders.production.svc.cluster.local", "orders", "production",
        "spiffe://cluster.local/ns/production/sa/orders", 78, 231, 12, null),
        Instant.parse("2026-01-02T03:04:05Z"));

    assertThat(line).isEqualTo("{\"time\":\"2026-01-02T03:04:05Z\",\"level\":\"info\","
        + "\"scope\":\"access\",\"message\":\"connection complete\","
        + "\"src.addr\":\"127.0.0.1:40000\",\"src.workload\":\"api-gateway\","
        + "\"src.namespace\":\"production\","
        + "\"src.identity\":\"spiffe://cluster.local/ns/production/sa/api-gateway\","
        + "\"dst.addr\":\"127.0.2.10:15008\",\"dst.hbone_addr\":\"127.0.2.10:8080\","
        + "\"dst.service\":\"orders.production.svc.cluster.local\",\"dst.workload\":\"orders\","
        + "\"dst.namespace\":\"production\","
        + "\"dst.identity\":\"spiffe://cluster.local/ns/production/sa/orders\","
        + "\"direction\":\"inbound\",\"bytes_sent\":78,\"bytes_recv\":231,\"duration\":\"12ms\"}");
  }

  @Test
  void errorsAreEscapedAndRaiseTheLevel() {
    String line = AccessLog.render(new ConnectionRecord("outbound", "127.0.1.10:1", null, null,
        null, "127.0.9.9:80", null, null, null, null, null, 0, 0, 3,
        "connection \"refused\"\n"), Instant.EPOCH);

    assertThat(line).contains("\"level\":\"warn\"")
        .contains("\"error\":\"connection \\\"refused\\\"\\n\"")
        .doesNotContain("src.identity");
  }
}
