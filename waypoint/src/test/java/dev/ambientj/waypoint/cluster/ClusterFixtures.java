package dev.ambientj.waypoint.cluster;

import dev.ambientj.config.MeshTranslator;
import dev.ambientj.config.MeshYaml;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Service;
import java.time.Duration;

/** A service "svc" with {@code n} pods (127.98.2.1..n, version v1 for odd, v2 for even). */
final class ClusterFixtures {
  private ClusterFixtures() {}

  static MeshSnapshot snapshot(int n) {
    StringBuilder y = new StringBuilder("""
        apiVersion: v1
        kind: Namespace
        metadata: {name: ns, labels: {istio.io/dataplane-mode: ambient}}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: svc, namespace: ns}
        spec:
          clusterIP: 127.98.10.1
          selector: {app: svc}
          ports: [{name: http, port: 80, targetPort: 8080}]
        """);
    for (int i = 1; i <= n; i++) {
      y.append("---\n").append("""
          apiVersion: v1
          kind: Pod
          metadata: {name: svc-%d, namespace: ns, labels: {app: svc, version: v%d}}
          spec: {nodeName: n, serviceAccountName: svc}
          status: {phase: Running, podIP: 127.98.2.%d}
          """.formatted(i, 2 - (i % 2), i));
    }
    MeshYaml.Result r = MeshYaml.load(y.toString(), "t");
    return new MeshTranslator().translate(r.objects());
  }

  static Cluster cluster(ClusterManager m, MeshSnapshot s, ClusterPolicy p) {
    Service svc = s.services().get(0);
    return m.build(s, svc, svc.ports().get(0), null, null, p);
  }

  static ClusterPolicy outlier(int consecutive5xx, int gateway, Duration base, int maxPct, int minHealth) {
    return new ClusterPolicy(LbPolicy.ROUND_ROBIN, ClusterPolicy.UNLIMITED, ClusterPolicy.UNLIMITED,
        ClusterPolicy.UNLIMITED, 0, ClusterPolicy.UNLIMITED,
        new OutlierPolicy(consecutive5xx, gateway, Duration.ofSeconds(10), base, OutlierPolicy.MAX_EJECTION_TIME, maxPct,
            minHealth));
  }
}
