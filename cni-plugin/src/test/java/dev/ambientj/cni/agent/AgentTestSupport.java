package dev.ambientj.cni.agent;

import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.PolicyObjects;
import dev.ambientj.config.model.TunnelProtocol;
import dev.ambientj.config.model.Workload;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Snapshots for agent tests. */
public final class AgentTestSupport {
  private AgentTestSupport() {}

  /** The first pod ("namespace/name", uid "uid-name") is enrolled, the others not. */
  public static MeshSnapshot snapshot(String enrolled, String... others) {
    List<Workload> workloads = new ArrayList<>();
    workloads.add(workload(enrolled, true));
    for (String o : others) {
      workloads.add(workload(o, false));
    }
    return MeshSnapshot.of(
        1, "cluster.local", workloads, List.of(), List.of(), List.of(), PolicyObjects.empty(), List.of());
  }

  static Workload workload(String nsName, boolean enrolled) {
    String ns = nsName.substring(0, nsName.indexOf('/'));
    String name = nsName.substring(nsName.indexOf('/') + 1);
    return new Workload(
        "uid-" + name, name, ns, "default", "cluster.local", "node-a", List.of(),
        enrolled ? Map.of("istio.io/dataplane-mode", "ambient") : Map.of(),
        enrolled, enrolled ? TunnelProtocol.HBONE : TunnelProtocol.NONE,
        null, true, null, null, null);
  }
}
