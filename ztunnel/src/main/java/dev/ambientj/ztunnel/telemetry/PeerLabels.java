package dev.ambientj.ztunnel.telemetry;

/**
 * The metric label values describing one side of a connection (a workload or only an identity).
 *
 * <p>Built once per workload per snapshot and reused by every connection of that workload, so the
 * hot path builds no strings. Equality is identity: the metric cache relies on interned instances.
 * Values never are null; absent ones are {@code "unknown"} as in ztunnel.
 */
public final class PeerLabels {
  /** The cluster id Istio uses when none is configured. */
  public static final String DEFAULT_CLUSTER = "Kubernetes";

  static final String UNKNOWN_VALUE = "unknown";

  /** A side of which nothing is known (e.g. a plaintext client outside the mesh). */
  public static final PeerLabels UNKNOWN =
      new PeerLabels(null, null, null, null, null, null, null, null);

  final String workload;
  final String canonicalService;
  final String canonicalRevision;
  final String namespace;
  final String principal;
  final String app;
  final String version;
  final String cluster;

  /**
   * @param principal the SPIFFE id as {@code spiffe://td/ns/x/sa/y}, or null
   */
  public PeerLabels(String workload, String canonicalService, String canonicalRevision,
      String namespace, String principal, String app, String version, String cluster) {
    this.workload = orUnknown(workload);
    this.canonicalService = orUnknown(canonicalService);
    this.canonicalRevision = orUnknown(canonicalRevision);
    this.namespace = orUnknown(namespace);
    this.principal = orUnknown(principal);
    this.app = orUnknown(app);
    this.version = orUnknown(version);
    this.cluster = orUnknown(cluster);
  }

  /** Only the identity is known (e.g. a peer that proved it over mTLS but is not in our snapshot). */
  public static PeerLabels ofPrincipal(String principal) {
    return new PeerLabels(null, null, null, null, principal, null, null, null);
  }

  public String workload() {
    return workload;
  }

  public String namespace() {
    return namespace;
  }

  public String principal() {
    return principal;
  }

  private static String orUnknown(String value) {
    return value == null || value.isEmpty() ? UNKNOWN_VALUE : value;
  }

  @Override
  public String toString() {
    return "PeerLabels[" + workload + "." + namespace + " " + principal + "]";
  }

  @Override
  public boolean equals(Object o) {
    return this == o;
  }

  @Override
  public int hashCode() {
    return System.identityHashCode(this);
  }
}
