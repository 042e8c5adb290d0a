package dev.ambientj.config.xds;

import java.util.List;

/** The xDS resource types the config server serves and the loader subscribes to. */
public final class TypeUrls {
  /** Istio's workloads and services (resource name: workload uid, or {@code ns/hostname}). */
  public static final String ADDRESS = "type.googleapis.com/istio.workload.Address";

  /** Istio's L4 authorization policies for ztunnel (resource name: {@code ns/name}). */
  public static final String AUTHORIZATION = "type.googleapis.com/istio.security.Authorization";

  /** ambientj's Kubernetes nodes (resource name: node name); Istio has no equivalent. */
  public static final String MESH_NODE = "type.googleapis.com/ambientj.xds.v1.MeshNode";

  /**
   * ambientj's L7 and other non-WDS configuration (resource name: {@code Kind/ns/name}); Istio has
   * no equivalent (istiod gives waypoints Envoy's LDS/RDS/CDS instead).
   */
  public static final String MESH_OBJECT = "type.googleapis.com/ambientj.xds.v1.MeshObject";

  /**
   * ambientj's configuration rejections of the config server (resource name: {@code
   * Kind/ns/name}, or the file position); Istio has no equivalent.
   */
  public static final String REJECTION = "type.googleapis.com/ambientj.xds.v1.Rejection";

  /**
   * Not configuration: a request for this type is answered once with one resource per connected
   * proxy (a {@code google.protobuf.Struct}: id, kind, node, status SYNCED/STALE/NACK, version,
   * the NACK's message), as istiod answers {@code istioctl proxy-status} over xDS.
   */
  public static final String DEBUG_SYNCZ = "istio.io/debug/syncz";

  /** Every type, in the order a client subscribes and a server pushes them. */
  public static final List<String> ALL =
      List.of(MESH_NODE, ADDRESS, AUTHORIZATION, MESH_OBJECT, REJECTION);

  private TypeUrls() {}
}
