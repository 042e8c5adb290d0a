package dev.ambientj.ztunnel;

import dev.ambientj.config.model.Endpoint;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Node;
import dev.ambientj.config.model.PolicyObjects;
import dev.ambientj.config.model.Service;
import dev.ambientj.config.model.ServicePort;
import dev.ambientj.config.model.TunnelProtocol;
import dev.ambientj.config.model.Waypoint;
import dev.ambientj.config.model.WaypointRef;
import dev.ambientj.config.model.Workload;
import java.net.InetAddress;
import java.util.List;
import java.util.Map;

/**
 * The model of {@code examples/mesh.yaml}, built by hand so that ztunnel's decision tables do not
 * depend on the translator: node-a (api-gateway-0 .1.10, payment-waypoint-0 .1.30), node-b
 * (orders-0 .2.10, payment-v1-0/.2.20, payment-v2-0/.2.21, legacy-web-0 .2.50 not enrolled).
 */
public final class ExampleMesh {
  private ExampleMesh() {}

  public static final String TD = "cluster.local";

  public static final Workload API_GATEWAY = workload("api-gateway-0", "production", "api-gateway",
      "node-a", "127.0.1.10", true, null, "api-gateway", "v1");
  public static final Workload ORDERS = workload("orders-0", "production", "orders", "node-b",
      "127.0.2.10", true, null, "orders", "v1");
  public static final Workload PAYMENT_V1 = workload("payment-v1-0", "production",
      "payment-service", "node-b", "127.0.2.20", true, null, "payment-service", "v1");
  public static final Workload PAYMENT_V2 = workload("payment-v2-0", "production",
      "payment-service", "node-b", "127.0.2.21", true, null, "payment-service", "v2");
  public static final Workload WAYPOINT_POD = workload("payment-waypoint-0", "production",
      "payment-waypoint", "node-a", "127.0.1.30", false, null, "payment-waypoint-0", null);
  public static final Workload LEGACY = workload("legacy-web-0", "legacy", "default", "node-b",
      "127.0.2.50", false, null, "legacy-web", null);

  public static final WaypointRef PAYMENT_WAYPOINT_REF = new WaypointRef("production",
      "payment-waypoint");
  public static final Waypoint PAYMENT_WAYPOINT = new Waypoint("payment-waypoint", "production",
      "service", List.of(ip("127.0.1.30")), "payment-waypoint", TD);

  public static final Service ORDERS_SVC = service("orders", "production", "127.10.0.10",
      new ServicePort("http", 80, 0, null), List.of(new Endpoint(ORDERS.uid(), Map.of(80, 8080))),
      null);
  public static final Service PAYMENT_SVC = service("payment-service", "production", "127.10.0.20",
      new ServicePort("http", 80, 8080, null),
      List.of(new Endpoint(PAYMENT_V1.uid(), Map.of()), new Endpoint(PAYMENT_V2.uid(), Map.of())),
      PAYMENT_WAYPOINT_REF);
  public static final Service WAYPOINT_SVC = service("payment-waypoint", "production",
      "127.10.0.30", new ServicePort("mesh", 15008, 15008, "HBONE"),
      List.of(new Endpoint(WAYPOINT_POD.uid(), Map.of())), null);
  public static final Service LEGACY_SVC = service("legacy-web", "legacy", "127.10.0.50",
      new ServicePort("http", 80, 8080, null), List.of(new Endpoint(LEGACY.uid(), Map.of())), null);

  public static MeshSnapshot snapshot() {
    return snapshot(List.of(API_GATEWAY, ORDERS, PAYMENT_V1, PAYMENT_V2, WAYPOINT_POD, LEGACY),
        List.of(ORDERS_SVC, PAYMENT_SVC, WAYPOINT_SVC, LEGACY_SVC));
  }

  public static MeshSnapshot snapshot(List<Workload> workloads, List<Service> services) {
    return MeshSnapshot.of(1, TD, workloads, services, List.of(PAYMENT_WAYPOINT),
        List.of(new Node("node-a", List.of(ip("127.0.100.1"))),
            new Node("node-b", List.of(ip("127.0.100.2")))),
        PolicyObjects.empty(), List.of());
  }

  public static Workload workload(String name, String namespace, String sa, String node,
      String address, boolean enrolled, WaypointRef waypoint, String app, String version) {
    return new Workload("Kubernetes//Pod/" + namespace + "/" + name, name, namespace, sa, TD, node,
        List.of(ip(address)), Map.of(), enrolled,
        enrolled ? TunnelProtocol.HBONE : TunnelProtocol.NONE, waypoint, true, name, app, version);
  }

  public static Workload unhealthy(Workload w) {
    return new Workload(w.uid(), w.name(), w.namespace(), w.serviceAccount(), w.trustDomain(),
        w.node(), w.addresses(), w.labels(), w.enrolled(), w.protocol(), w.waypoint(), false,
        w.workloadName(), w.canonicalName(), w.canonicalRevision());
  }

  public static Workload withWaypoint(Workload w, WaypointRef ref) {
    return new Workload(w.uid(), w.name(), w.namespace(), w.serviceAccount(), w.trustDomain(),
        w.node(), w.addresses(), w.labels(), w.enrolled(), w.protocol(), ref, w.healthy(),
        w.workloadName(), w.canonicalName(), w.canonicalRevision());
  }

  static Service service(String name, String ns, String vip, ServicePort port,
      List<Endpoint> endpoints, WaypointRef waypoint) {
    return new Service(name, ns, name + "." + ns + ".svc.cluster.local", List.of(ip(vip)),
        List.of(port), endpoints, waypoint);
  }

  public static InetAddress ip(String literal) {
    return InetAddress.ofLiteral(literal);
  }
}
