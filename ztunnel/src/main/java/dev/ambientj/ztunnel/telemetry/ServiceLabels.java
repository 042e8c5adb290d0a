package dev.ambientj.ztunnel.telemetry;

/**
 * The {@code destination_service*} label values, built once per service per snapshot. Equality is
 * identity (instances are interned).
 */
public final class ServiceLabels {
  /** No service was addressed (workload-addressed or passthrough traffic). */
  public static final ServiceLabels UNKNOWN = new ServiceLabels(null, null, null);

  final String hostname;
  final String namespace;
  final String name;

  public ServiceLabels(String hostname, String namespace, String name) {
    this.hostname = orUnknown(hostname);
    this.namespace = orUnknown(namespace);
    this.name = orUnknown(name);
  }

  public String hostname() {
    return hostname;
  }

  private static String orUnknown(String value) {
    return value == null || value.isEmpty() ? PeerLabels.UNKNOWN_VALUE : value;
  }

  @Override
  public boolean equals(Object o) {
    return this == o;
  }

  @Override
  public int hashCode() {
    return System.identityHashCode(this);
  }

  @Override
  public String toString() {
    return "ServiceLabels[" + hostname + "]";
  }
}
