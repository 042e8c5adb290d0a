package dev.ambientj.ztunnel.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class TrafficMetricsTest {
  private final PeerLabels client = new PeerLabels("api-gateway", "api-gateway", "v1",
      "production", "spiffe://cluster.local/ns/production/sa/api-gateway", "api-gateway", "v1",
      "Kubernetes");
  private final PeerLabels server = new PeerLabels("orders", "orders", "v1", "production",
      "spiffe://cluster.local/ns/production/sa/orders", "orders", "v1", "Kubernetes");
  private final ServiceLabels orders = new ServiceLabels("orders.production.svc.cluster.local",
      "production", "orders");

  @Test
  void rendersIstioNamesAndLabels() {
    TrafficMetrics metrics = new TrafficMetrics();
    ConnectionMeters m = metrics.meters(Reporter.DESTINATION, client, server, orders, true,
        TrafficMetrics.NO_FLAGS);
    m.opened().increment();
    m.recordClose(100, 2500);

    String text = metrics.scrape();

    assertThat(text).contains("# TYPE istio_tcp_connections_opened_total counter");
    String labels = "connection_security_policy=\"mutual_tls\","
        + "destination_app=\"orders\","
        + "destination_canonical_revision=\"v1\","
        + "destination_canonical_service=\"orders\","
        + "destination_cluster=\"Kubernetes\","
        + "destination_principal=\"spiffe://cluster.local/ns/production/sa/orders\","
        + "destination_service=\"orders.production.svc.cluster.local\","
        + "destination_service_name=\"orders\","
        + "destination_service_namespace=\"production\","
        + "destination_version=\"v1\","
        + "destination_workload=\"orders\","
        + "destination_workload_namespace=\"production\","
        + "reporter=\"destination\","
        + "request_protocol=\"tcp\","
        + "response_flags=\"-\","
        + "source_app=\"api-gateway\","
        + "source_canonical_revision=\"v1\","
        + "source_canonical_service=\"api-gateway\","
        + "source_cluster=\"Kubernetes\","
        + "source_principal=\"spiffe://cluster.local/ns/production/sa/api-gateway\","
        + "source_version=\"v1\","
        + "source_workload=\"api-gateway\","
        + "source_workload_namespace=\"production\"";
    assertThat(text).contains("istio_tcp_connections_opened_total{" + labels + "} 1.0");
    assertThat(text).contains("istio_tcp_connections_closed_total{" + labels + "} 1.0");
    assertThat(text).contains("istio_tcp_received_bytes_total{" + labels + "} 100.0");
    assertThat(text).contains("istio_tcp_sent_bytes_total{" + labels + "} 2500.0");
  }

  @Test
  void unknownValuesRenderAsUnknownAndPlaintextAsUnknownPolicy() {
    TrafficMetrics metrics = new TrafficMetrics();
    metrics.meters(Reporter.SOURCE, client, PeerLabels.UNKNOWN, ServiceLabels.UNKNOWN, false,
        TrafficMetrics.FLAG_CONNECT).opened().increment();

    String text = metrics.scrape();

    assertThat(text).contains("destination_workload=\"unknown\"")
        .contains("destination_service=\"unknown\"")
        .contains("connection_security_policy=\"unknown\"")
        .contains("response_flags=\"CONNECT\"")
        .contains("reporter=\"source\"");
  }

  @Test
  void theSameLabelsReuseTheSameCounters() {
    TrafficMetrics metrics = new TrafficMetrics();
    ConnectionMeters a = metrics.meters(Reporter.SOURCE, client, server, orders, true, "-");
    ConnectionMeters b = metrics.meters(Reporter.SOURCE, client, server, orders, true, "-");
    assertThat(a).isSameAs(b);
  }
}
