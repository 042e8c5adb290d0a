package dev.ambientj.ztunnel.proxy;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.ambientj.config.model.Service;
import dev.ambientj.config.model.Workload;
import dev.ambientj.ztunnel.telemetry.PeerLabels;
import dev.ambientj.ztunnel.telemetry.ServiceLabels;

/**
 * Interns per-workload and per-service derived data. Keys are compared by identity (Caffeine weak
 * keys), so a lookup is a pointer hash, and entries go away with the snapshot that held them.
 */
public final class WorkloadInfoCache {
  private final String cluster;
  private final Cache<Workload, WorkloadInfo> workloads =
      Caffeine.newBuilder().weakKeys().build();
  private final Cache<Service, ServiceLabels> services = Caffeine.newBuilder().weakKeys().build();
  private final Cache<BaggageKey, PeerLabels> fromBaggage =
      Caffeine.newBuilder().maximumSize(1_000).build();

  private record BaggageKey(String baggage, String principal) {}

  public WorkloadInfoCache(String cluster) {
    this.cluster = cluster;
  }

  public WorkloadInfo info(Workload workload) {
    return workloads.get(workload, w -> WorkloadInfo.of(w, cluster));
  }

  /** {@link ServiceLabels#UNKNOWN} for null. */
  public ServiceLabels labels(Service service) {
    if (service == null) {
      return ServiceLabels.UNKNOWN;
    }
    return services.get(service, s -> new ServiceLabels(s.hostname(), s.namespace(), s.name()));
  }

  /**
   * Source labels from a peer's {@code baggage} header and proven identity, interned so that the
   * metric cache sees the same instance for the same peer.
   */
  public PeerLabels labelsFromBaggage(String baggage, String principal) {
    return fromBaggage.get(new BaggageKey(baggage, principal), k -> Baggage.parse(baggage, principal));
  }

  /** {@link PeerLabels#UNKNOWN} for null. */
  public PeerLabels labels(Workload workload) {
    return workload == null ? PeerLabels.UNKNOWN : info(workload).labels();
  }

  public String cluster() {
    return cluster;
  }
}
