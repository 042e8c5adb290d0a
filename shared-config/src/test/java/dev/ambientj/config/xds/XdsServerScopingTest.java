package dev.ambientj.config.xds;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.SnapshotPublisher;
import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.envoyproxy.envoy.service.discovery.v3.Resource;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What each kind of subscriber receives: a waypoint the L7 objects of the services bound to its
 * Gateway, a ztunnel the L4 policies of its node's workloads; and a change outside a subscriber's
 * scope sends it nothing.
 */
class XdsServerScopingTest {
  private static final Duration BOUND = Duration.ofSeconds(10);

  /** A second waypoint, bound to orders, with orders' L7 objects; a VirtualService for legacy-web. */
  private static final String ORDERS_WAYPOINT =
      """
      ---
      apiVersion: gateway.networking.k8s.io/v1
      kind: Gateway
      metadata:
        name: orders-waypoint
        namespace: production
        labels: {istio.io/waypoint-for: service}
      spec:
        gatewayClassName: istio-waypoint
        listeners: [{name: mesh, port: 15008, protocol: HBONE}]
      status:
        addresses: [{type: IPAddress, value: 127.10.0.31}]
      ---
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: orders, namespace: production}
      spec:
        hosts: [orders.production.svc.cluster.local]
        http:
        - route:
          - destination: {host: orders, subset: v1}
          timeout: 5s
      ---
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: orders, namespace: production}
      spec:
        host: orders
        subsets: [{name: v1, labels: {app: orders}}]
      ---
      apiVersion: security.istio.io/v1
      kind: AuthorizationPolicy
      metadata: {name: orders-access, namespace: production}
      spec:
        targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: orders-waypoint}]
        rules:
        - from: [{source: {principals: ["cluster.local/ns/production/sa/api-gateway"]}}]
      ---
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: legacy-web, namespace: legacy}
      spec:
        hosts: [legacy-web]
        http:
        - route: [{destination: {host: legacy-web}}]
      """;

  SnapshotPublisher snapshots;
  XdsServer xds;
  String yaml;
  final List<Subscriber> subscribers = new ArrayList<>();

  @BeforeEach
  void start() throws Exception {
    yaml = Meshes.exampleYaml().replace(
        "metadata:\n  name: orders\n  namespace: production\nspec:",
        "metadata:\n  name: orders\n  namespace: production\n"
            + "  labels: {istio.io/use-waypoint: orders-waypoint}\nspec:")
        + ORDERS_WAYPOINT;
    assertThat(yaml).contains("istio.io/use-waypoint: orders-waypoint");
    snapshots = new SnapshotPublisher();
    snapshots.publish(Meshes.translate(yaml));
    xds = XdsServer.builder(snapshots).debounce(Duration.ZERO).build();
  }

  @AfterEach
  void stop() {
    xds.close();
  }

  private Subscriber subscribe(Node node) throws InterruptedException {
    Subscriber s = new Subscriber(node);
    subscribers.add(s);
    s.start();
    return s;
  }

  private static Node waypoint(String podName) {
    return ProxyNode.node("waypoint", "127.0.1.30", podName, "production", "");
  }

  private static Node ztunnel(String nodeName) {
    return ProxyNode.node("ztunnel", "127.0.100.9", "ztunnel-" + nodeName, "istio-system",
        nodeName);
  }

  @Test
  void aWaypointGetsTheL7ObjectsOfTheServicesBoundToIt() throws Exception {
    // A waypoint pod as in a cluster (named after its Gateway plus a suffix) and as `mesh
    // waypoint` names itself (the Gateway's name).
    Subscriber payment = subscribe(waypoint("payment-waypoint-0"));
    Subscriber orders = subscribe(waypoint("orders-waypoint"));
    String rateLimit = snapshots.snapshot().policies().localRateLimits().getFirst().name();

    assertThat(payment.held(TypeUrls.MESH_OBJECT).keySet()).containsExactlyInAnyOrder(
        "VirtualService/production/payment-service",
        "DestinationRule/production/payment-service",
        "AuthorizationPolicy/production/payment-access",
        "LocalRateLimit/production/" + rateLimit);
    assertThat(orders.held(TypeUrls.MESH_OBJECT).keySet()).containsExactlyInAnyOrder(
        "VirtualService/production/orders",
        "DestinationRule/production/orders",
        "AuthorizationPolicy/production/orders-access",
        // a selector policy on orders' pods: the waypoint enforces it for orders too
        "AuthorizationPolicy/production/orders-port");
    for (Subscriber s : List.of(payment, orders)) {
      assertThat(s.held(TypeUrls.AUTHORIZATION)).isEmpty();
      assertThat(s.held(TypeUrls.ADDRESS))
          .hasSameSizeAs(new WdsEncoder().encode(snapshots.snapshot()).of(TypeUrls.ADDRESS));
      assertThat(s.held(TypeUrls.MESH_NODE)).hasSize(2);
    }
  }

  @Test
  void aZtunnelGetsThePoliciesOfItsNodesWorkloads() throws Exception {
    Subscriber a = subscribe(ztunnel("node-a"));
    Subscriber b = subscribe(ztunnel("node-b"));
    // orders-port selects orders-0, which runs on node-b; the other two are mesh- and
    // namespace-wide, and node-a runs production workloads.
    assertThat(a.held(TypeUrls.AUTHORIZATION).keySet())
        .containsExactlyInAnyOrder("istio-system/deny-blocked", "production/production-only");
    assertThat(b.held(TypeUrls.AUTHORIZATION).keySet()).containsExactlyInAnyOrder(
        "istio-system/deny-blocked", "production/production-only", "production/orders-port");
    for (Subscriber s : List.of(a, b)) {
      assertThat(s.held(TypeUrls.MESH_OBJECT).keySet())
          .containsExactly("PeerAuthentication/production/default");
      assertThat(s.held(TypeUrls.ADDRESS))
          .hasSameSizeAs(new WdsEncoder().encode(snapshots.snapshot()).of(TypeUrls.ADDRESS));
    }
  }

  @Test
  void aChangeOutsideASubscribersScopeSendsItNothing() throws Exception {
    Subscriber payment = subscribe(waypoint("payment-waypoint-0"));
    Subscriber orders = subscribe(waypoint("orders-waypoint"));
    Subscriber nodeA = subscribe(ztunnel("node-a"));
    Subscriber nodeB = subscribe(ztunnel("node-b"));
    for (Subscriber s : subscribers) {
      s.received.clear();
    }

    // 1. orders' VirtualService: only the orders waypoint hears of it.
    yaml = yaml.replace("timeout: 5s", "timeout: 7s");
    snapshots.publish(Meshes.translate(yaml));
    DeltaDiscoveryResponse r = orders.await(TypeUrls.MESH_OBJECT);
    assertThat(r.getResourcesList()).extracting(Resource::getName)
        .containsExactly("VirtualService/production/orders");
    assertThat(r.getRemovedResourcesList()).isEmpty();

    // 2. orders-port (on node-b's orders pod): only node-b's ztunnel and the orders waypoint.
    yaml = yaml.replace("ports: [\"8080\"]", "ports: [\"8081\"]");
    snapshots.publish(Meshes.translate(yaml));
    r = nodeB.await(TypeUrls.AUTHORIZATION);
    assertThat(r.getResourcesList()).extracting(Resource::getName)
        .containsExactly("production/orders-port");
    r = orders.await(TypeUrls.MESH_OBJECT);
    assertThat(r.getResourcesList()).extracting(Resource::getName)
        .containsExactly("AuthorizationPolicy/production/orders-port");

    // 3. payment's VirtualService and a mesh-wide L4 policy: everyone concerned hears of its part.
    yaml = yaml.replace("timeout: 10s", "timeout: 11s")
        .replace("127.0.66.0/24", "127.0.67.0/24");
    snapshots.publish(Meshes.translate(yaml));
    r = payment.await(TypeUrls.MESH_OBJECT);
    assertThat(r.getResourcesList()).extracting(Resource::getName)
        .containsExactly("VirtualService/production/payment-service");
    r = nodeA.await(TypeUrls.AUTHORIZATION);
    assertThat(r.getResourcesList()).extracting(Resource::getName)
        .containsExactly("istio-system/deny-blocked");
    nodeB.await(TypeUrls.AUTHORIZATION);

    // Pushes run one snapshot after the other on one thread: by the time the third arrived,
    // anything the first two sent would have arrived before it.
    assertThat(payment.typesReceived()).containsExactly(TypeUrls.MESH_OBJECT);
    assertThat(nodeA.typesReceived()).containsExactly(TypeUrls.AUTHORIZATION);
    assertThat(orders.typesReceived())
        .containsExactly(TypeUrls.MESH_OBJECT, TypeUrls.MESH_OBJECT);
    assertThat(nodeB.typesReceived())
        .containsExactly(TypeUrls.AUTHORIZATION, TypeUrls.AUTHORIZATION);
  }

  @Test
  void aWaypointWhoseGatewayAppearsLaterGetsItsObjectsThen() throws Exception {
    snapshots.publish(Meshes.translate(Meshes.exampleYaml()));
    XdsLoopTest.eventually("the server serves the mesh without orders-waypoint",
        () -> xds.servedVersion() == snapshots.snapshot().version());
    Subscriber orders = subscribe(waypoint("orders-waypoint"));
    assertThat(orders.held(TypeUrls.MESH_OBJECT)).isEmpty();

    snapshots.publish(Meshes.translate(yaml));
    orders.awaitUntil(TypeUrls.MESH_OBJECT);
    assertThat(orders.held(TypeUrls.MESH_OBJECT).keySet())
        .contains("VirtualService/production/orders");
  }

  /**
   * A delta-ADS client driven by the test: subscribes to every type (wildcard), ACKs every
   * response and keeps what it holds.
   */
  private final class Subscriber implements StreamObserver<DeltaDiscoveryResponse> {
    final Node node;
    final BlockingQueue<DeltaDiscoveryResponse> received = new LinkedBlockingQueue<>();
    final List<DeltaDiscoveryResponse> log = new ArrayList<>();
    final Map<String, Map<String, String>> held = new HashMap<>();
    StreamObserver<DeltaDiscoveryRequest> requests;

    Subscriber(Node node) {
      this.node = node;
    }

    void start() throws InterruptedException {
      requests = xds.deltaAggregatedResources(this);
      for (String type : TypeUrls.ALL) {
        DeltaDiscoveryRequest.Builder b = DeltaDiscoveryRequest.newBuilder().setTypeUrl(type);
        if (type.equals(TypeUrls.ALL.getFirst())) {
          b.setNode(node);
        }
        requests.onNext(b.build());
        await(type);
      }
      log.clear();
    }

    Map<String, String> held(String type) {
      return held.getOrDefault(type, Map.of());
    }

    List<String> typesReceived() {
      return log.stream().map(DeltaDiscoveryResponse::getTypeUrl).toList();
    }

    /** The next response, which must be of {@code type}; applied and ACKed. */
    DeltaDiscoveryResponse await(String type) throws InterruptedException {
      DeltaDiscoveryResponse r = next(type);
      assertThat(r.getTypeUrl()).isEqualTo(type);
      return r;
    }

    /** Applies and ACKs responses until one of {@code type}. */
    DeltaDiscoveryResponse awaitUntil(String type) throws InterruptedException {
      DeltaDiscoveryResponse r;
      do {
        r = next(type);
      } while (!r.getTypeUrl().equals(type));
      return r;
    }

    private DeltaDiscoveryResponse next(String awaited) throws InterruptedException {
      DeltaDiscoveryResponse r = received.poll(BOUND.toMillis(), TimeUnit.MILLISECONDS);
      assertThat(r).as("a response of " + awaited + " to " + node.getId()).isNotNull();
      log.add(r);
      Map<String, String> h = held.computeIfAbsent(r.getTypeUrl(), t -> new HashMap<>());
      r.getResourcesList().forEach(res -> h.put(res.getName(), res.getVersion()));
      r.getRemovedResourcesList().forEach(h::remove);
      requests.onNext(DeltaDiscoveryRequest.newBuilder().setTypeUrl(r.getTypeUrl())
          .setResponseNonce(r.getNonce()).build());
      return r;
    }

    @Override
    public void onNext(DeltaDiscoveryResponse value) {
      received.add(value);
    }

    @Override
    public void onError(Throwable t) {}

    @Override
    public void onCompleted() {}
  }
}
