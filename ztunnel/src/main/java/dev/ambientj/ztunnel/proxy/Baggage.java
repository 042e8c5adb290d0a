package dev.ambientj.ztunnel.proxy;

import dev.ambientj.config.model.Workload;
import dev.ambientj.ztunnel.telemetry.PeerLabels;

/**
 * The W3C {@code baggage} header ztunnel sends on an HBONE CONNECT and reads on the other side
 * (ISTIO-FACTS §2): {@code k8s.cluster.name}, {@code k8s.namespace.name}, {@code k8s.<type>.name},
 * {@code service.name}, {@code service.version}.
 */
public final class Baggage {
  private Baggage() {}

  static String of(Workload w, String cluster) {
    // The model keeps the owner's name but not its kind: a pod without an owner reports itself.
    String type = w.workloadName().equals(w.name()) ? "pod" : "deployment";
    return "k8s.cluster.name=" + cluster
        + ",k8s.namespace.name=" + w.namespace()
        + ",k8s." + type + ".name=" + w.workloadName()
        + ",service.name=" + w.canonicalName()
        + ",service.version=" + w.canonicalRevision();
  }

  /**
   * Source labels from a peer's baggage header (the inbound side, when the source workload is not
   * found by address); {@code principal} is the identity proven over mTLS.
   */
  public static PeerLabels parse(String baggage, String principal) {
    if (baggage == null || baggage.isEmpty()) {
      return PeerLabels.ofPrincipal(principal);
    }
    String cluster = null;
    String namespace = null;
    String workload = null;
    String service = null;
    String version = null;
    for (String member : baggage.split(",")) {
      int eq = member.indexOf('=');
      if (eq <= 0) {
        continue;
      }
      String key = member.substring(0, eq).trim();
      String value = member.substring(eq + 1).trim();
      int props = value.indexOf(';');
      if (props >= 0) {
        value = value.substring(0, props);
      }
      switch (key) {
        case "k8s.cluster.name" -> cluster = value;
        case "k8s.namespace.name" -> namespace = value;
        case "k8s.deployment.name", "k8s.pod.name", "k8s.job.name", "k8s.cronjob.name",
             "k8s.statefulset.name", "k8s.daemonset.name", "k8s.replicaset.name" -> workload = value;
        case "service.name" -> service = value;
        case "service.version" -> version = value;
        default -> {}
      }
    }
    return new PeerLabels(workload, service, version, namespace, principal, service, version,
        cluster);
  }
}
