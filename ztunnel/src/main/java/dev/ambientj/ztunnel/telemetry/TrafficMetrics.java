package dev.ambientj.ztunnel.telemetry;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Tags;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

/**
 * Istio's L4 traffic metrics ({@code istio_tcp_*}, ISTIO-FACTS §9) in a Prometheus registry.
 *
 * <p>Invariants: every series carries the full Istio label set (Prometheus requires one label set
 * per name); label values are never null ({@code unknown}); the counters of a label combination
 * are looked up once and cached, keyed by the interned {@link PeerLabels}/{@link ServiceLabels}
 * instances, so a connection costs one cache lookup and no string building.
 */
public final class TrafficMetrics {
  public static final String CONNECTIONS_OPENED = "istio.tcp.connections.opened";
  public static final String CONNECTIONS_CLOSED = "istio.tcp.connections.closed";
  public static final String SENT_BYTES = "istio.tcp.sent.bytes";
  public static final String RECEIVED_BYTES = "istio.tcp.received.bytes";

  /** Authorization decisions at inbound: tags {@code decision} (allow, deny, audit), {@code policy}, {@code phase}. */
  public static final String AUTHZ_DECISIONS = "ambientj.authorization.decisions";
  /**
   * Inbound connections refused before a stream existed (TLS failures): tag {@code response_flags},
   * {@code reason}. Prometheus {@code ambientj_tcp_connections_failed_total}: not an Istio metric
   * (Istio's ztunnel has no such family), so it is not in the {@code istio_} namespace.
   */
  public static final String CONNECTIONS_FAILED = "ambientj.tcp.connections.failed";

  /**
   * What the HBONE server (15008) did to a peer on its own: tag {@code event}
   * ({@code first_request_timeout}, {@code connect_timeout}, {@code rapid_reset},
   * {@code protocol_error}).
   */
  public static final String HBONE_SERVER_EVENTS = "ambientj.hbone.server.events";

  /** {@code response_flags} when nothing went wrong. */
  public static final String NO_FLAGS = "-";
  /** {@code response_flags} when the upstream connection could not be established. */
  public static final String FLAG_CONNECT = "CONNECT";
  /** {@code response_flags} when an authorization policy denied the connection. */
  public static final String FLAG_DENY = "DENY";
  /** {@code response_flags} when the TLS handshake failed. */
  public static final String FLAG_TLS_FAILURE = "TLS_FAILURE";
  /**
   * {@code response_flags} when the source workload was over its fairness budget (connections,
   * connection rate, or HBONE streams into this node): the connection was refused.
   */
  public static final String FLAG_OVER_BUDGET = "OVER_BUDGET";
  /** {@code response_flags} when the peer proved an identity other than the expected one. */
  public static final String FLAG_IDENTITY_ERROR = "IDENTITY_ERROR";
  /** ztunnel's shutdown ended the connection at the drain deadline. */
  public static final String FLAG_DRAIN = "DRAIN";

  private final PrometheusMeterRegistry registry;
  private final Cache<Key, ConnectionMeters> meters =
      Caffeine.newBuilder().maximumSize(10_000).build();

  private record Key(Reporter reporter, PeerLabels source, PeerLabels destination,
      ServiceLabels service, boolean mutualTls, String responseFlags) {}

  public TrafficMetrics() {
    this(new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
  }

  public TrafficMetrics(PrometheusMeterRegistry registry) {
    this.registry = registry;
  }

  /** The registry, e.g. to add JVM or process metrics. */
  public PrometheusMeterRegistry registry() {
    return registry;
  }

  /** The counters of one label combination; {@code responseFlags} is a constant such as {@link #NO_FLAGS}. */
  public ConnectionMeters meters(Reporter reporter, PeerLabels source, PeerLabels destination,
      ServiceLabels service, boolean mutualTls, String responseFlags) {
    return meters.get(new Key(reporter, source, destination, service, mutualTls, responseFlags),
        this::register);
  }

  /**
   * Counts an authorization decision.
   *
   * @param decision {@code allow}, {@code deny} or {@code audit}
   * @param policy {@code ns/name}, or null (no policy / no ALLOW matched)
   * @param phase {@code connect} (a new connection) or {@code policy_change} (a live one re-checked)
   */
  public void authorization(String decision, String policy, String phase) {
    Counter.builder(AUTHZ_DECISIONS)
        .description("Inbound authorization decisions (ambientj)")
        .tags("decision", decision, "policy", policy == null ? "-" : policy, "phase", phase)
        .register(registry).increment();
  }

  /**
   * Counts an inbound connection refused before any stream (a TLS handshake that failed).
   *
   * @param reason a short, low-cardinality reason ({@code untrusted_certificate}, …)
   */
  public void failed(String responseFlags, String reason) {
    Counter.builder(CONNECTIONS_FAILED)
        .description("Inbound connections that failed before a stream was established")
        .tags("reporter", "destination", "response_flags", responseFlags, "reason", reason)
        .register(registry).increment();
  }

  /** Counts one {@link #HBONE_SERVER_EVENTS} event ({@code HboneServerEvent.Kind} label). */
  public void hboneServerEvent(String event) {
    Counter.builder(HBONE_SERVER_EVENTS)
        .description("HBONE server deadlines, limits and protocol errors on 15008 (ambientj)")
        .tags("event", event)
        .register(registry).increment();
  }

  /** The Prometheus text exposition of every metric. */
  public String scrape() {
    return registry.scrape();
  }

  private ConnectionMeters register(Key key) {
    Tags tags = tags(key);
    return new ConnectionMeters(
        Counter.builder(CONNECTIONS_OPENED)
            .description("The total number of TCP connections opened").tags(tags).register(registry),
        Counter.builder(CONNECTIONS_CLOSED)
            .description("The total number of TCP connections closed").tags(tags).register(registry),
        Counter.builder(SENT_BYTES)
            .description("The size of total bytes sent during response in case of a TCP connection")
            .tags(tags).register(registry),
        Counter.builder(RECEIVED_BYTES)
            .description("The size of total bytes received during request in case of a TCP connection")
            .tags(tags).register(registry));
  }

  private static Tags tags(Key key) {
    PeerLabels s = key.source();
    PeerLabels d = key.destination();
    ServiceLabels svc = key.service();
    return Tags.of(
        "reporter", key.reporter().label(),
        "source_workload", s.workload,
        "source_canonical_service", s.canonicalService,
        "source_canonical_revision", s.canonicalRevision,
        "source_workload_namespace", s.namespace,
        "source_principal", s.principal,
        "source_app", s.app,
        "source_version", s.version,
        "source_cluster", s.cluster,
        "destination_service", svc.hostname,
        "destination_service_namespace", svc.namespace,
        "destination_service_name", svc.name,
        "destination_workload", d.workload,
        "destination_canonical_service", d.canonicalService,
        "destination_canonical_revision", d.canonicalRevision,
        "destination_workload_namespace", d.namespace,
        "destination_principal", d.principal,
        "destination_app", d.app,
        "destination_version", d.version,
        "destination_cluster", d.cluster,
        "request_protocol", "tcp",
        "connection_security_policy", key.mutualTls() ? "mutual_tls" : "unknown",
        "response_flags", key.responseFlags());
  }
}
