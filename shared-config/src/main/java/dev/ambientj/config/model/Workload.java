package dev.ambientj.config.model;

import java.net.InetAddress;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A pod, as the data plane sees it.
 *
 * @param uid the pod's {@code metadata.uid}, else {@code Kubernetes//Pod/<namespace>/<name>}
 * @param node the node the pod runs on ({@code spec.nodeName}); empty if unscheduled
 * @param addresses {@code status.podIPs} (or {@code status.podIP}); empty if none assigned yet
 * @param enrolled captured by ambient mode (ISTIO-FACTS §11)
 * @param protocol {@link TunnelProtocol#HBONE} iff enrolled
 * @param waypoint the waypoint bound with {@code istio.io/use-waypoint} on the pod or its
 *     namespace, only when that waypoint serves workloads ({@code waypoint-for} workload or all);
 *     else null
 * @param healthy {@code status.phase} Running (or absent) and not {@code Ready=False}
 * @param workloadName the owner's name (e.g. the Deployment), derived from owner references, else
 *     the pod
 * @param canonicalName the {@code app} label ({@code service.istio.io/canonical-name} first), else
 *     workloadName
 * @param canonicalRevision the {@code version} label ({@code service.istio.io/canonical-revision}
 *     first), else {@code "latest"}
 * @param annotations the pod's annotations under {@link #ANNOTATION_PREFIX} (ambientj's per-workload
 *     settings, e.g. {@code ambientj.dev/max-connections}); others are not kept
 */
public record Workload(
    String uid,
    String name,
    String namespace,
    String serviceAccount,
    String trustDomain,
    String node,
    List<InetAddress> addresses,
    Map<String, String> labels,
    boolean enrolled,
    TunnelProtocol protocol,
    WaypointRef waypoint,
    boolean healthy,
    String workloadName,
    String canonicalName,
    String canonicalRevision,
    Map<String, String> annotations) {

  /** The prefix of the pod annotations a workload keeps ({@link #annotations()}). */
  public static final String ANNOTATION_PREFIX = "ambientj.dev/";

  /** A workload without ambientj annotations. */
  public Workload(String uid, String name, String namespace, String serviceAccount,
      String trustDomain, String node, List<InetAddress> addresses, Map<String, String> labels,
      boolean enrolled, TunnelProtocol protocol, WaypointRef waypoint, boolean healthy,
      String workloadName, String canonicalName, String canonicalRevision) {
    this(uid, name, namespace, serviceAccount, trustDomain, node, addresses, labels, enrolled,
        protocol, waypoint, healthy, workloadName, canonicalName, canonicalRevision, Map.of());
  }

  public Workload {
    Objects.requireNonNull(uid, "uid");
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(namespace, "namespace");
    Objects.requireNonNull(serviceAccount, "serviceAccount");
    Objects.requireNonNull(trustDomain, "trustDomain");
    node = node == null ? "" : node;
    addresses = List.copyOf(addresses);
    labels = Map.copyOf(labels);
    Objects.requireNonNull(protocol, "protocol");
    workloadName = workloadName == null ? name : workloadName;
    canonicalName = canonicalName == null ? workloadName : canonicalName;
    canonicalRevision = canonicalRevision == null ? "latest" : canonicalRevision;
    annotations = annotations == null ? Map.of() : Map.copyOf(annotations);
  }

  /** {@code spiffe://<trust domain>/ns/<namespace>/sa/<service account>}. */
  public String spiffeId() {
    return "spiffe://" + trustDomain + "/ns/" + namespace + "/sa/" + serviceAccount;
  }
}
