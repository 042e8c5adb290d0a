package dev.ambientj.ztunnel.proxy;

import dev.ambientj.config.model.Workload;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.ztunnel.telemetry.PeerLabels;

/**
 * What the data path derives from a {@link Workload}, computed once per workload instance (per
 * snapshot) by {@link WorkloadInfoCache}: its identity, metric labels, baggage header and names.
 *
 * @param identity null when the workload's SPIFFE id does not parse (an invalid service account)
 * @param baggage the {@code baggage} header ztunnel sends for this workload as a source
 */
public record WorkloadInfo(Workload workload, SpiffeId identity, PeerLabels labels, String baggage) {

  static WorkloadInfo of(Workload w, String cluster) {
    SpiffeId id;
    try {
      id = SpiffeId.parse(w.spiffeId());
    } catch (IllegalArgumentException e) {
      id = null;
    }
    PeerLabels labels = new PeerLabels(w.workloadName(), w.canonicalName(), w.canonicalRevision(),
        w.namespace(), id == null ? null : id.toString(), w.canonicalName(), w.canonicalRevision(),
        cluster);
    return new WorkloadInfo(w, id, labels, Baggage.of(w, cluster));
  }
}
