package dev.ambientj.waypoint;

import dev.ambientj.config.MeshTranslator;
import dev.ambientj.config.MeshYaml;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.hbone.HboneClient;
import dev.ambientj.hbone.HboneClientConfig;
import dev.ambientj.hbone.identity.IdentityProvider;
import dev.ambientj.hbone.identity.LocalCertificateAuthority;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.hbone.transport.Transport;
import io.netty.channel.EventLoopGroup;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The example mesh of examples/mesh.yaml on a private loopback range ({@code 127.<b>.x.y}), with a
 * real CA, real HBONE on both sides of the waypoint, and pods that run a {@link TestPod} each.
 *
 * <pre>
 *   client api-gateway-0  127.b.1.10   (sa api-gateway)      orders-0 127.b.1.11 (sa orders)
 *   waypoint pod          127.b.1.30   (sa payment-waypoint)
 *   payment-v1-0          127.b.2.20   payment-v2-0 127.b.2.21 (sa payment-service)
 *   greeter-0             127.b.2.40   (gRPC, port name grpc)
 *   payment-service VIP   127.b.10.20:80 → 8080 (http), :7000 → 8080 (tcp-raw)
 *   greeter VIP           127.b.10.40:9000 → 8080 (grpc)
 * </pre>
 */
final class TestMesh implements AutoCloseable {
  final String p;
  final LocalCertificateAuthority ca = LocalCertificateAuthority.create("cluster.local");
  final IdentityProvider certs = ca.asIdentityProvider(Duration.ofHours(1));
  final Transport transport = Transport.select(Transport.Kind.NIO);
  final EventLoopGroup group = transport.newEventLoopGroup(2, "test-mesh");
  final SnapshotPublisher publisher = new SnapshotPublisher();
  final List<TestPod> pods = new ArrayList<>();
  final HboneClient clientHbone;
  Waypoint waypoint;

  static final SpiffeId API_GATEWAY = SpiffeId.parse("spiffe://cluster.local/ns/production/sa/api-gateway");
  static final SpiffeId ORDERS = SpiffeId.parse("spiffe://cluster.local/ns/production/sa/orders");
  static final SpiffeId PAYMENT = SpiffeId.parse("spiffe://cluster.local/ns/production/sa/payment-service");
  static final SpiffeId WAYPOINT = SpiffeId.parse("spiffe://cluster.local/ns/production/sa/payment-waypoint");

  TestMesh(int b) {
    this.p = "127." + b + ".";
    clientHbone = new HboneClient(HboneClientConfig.defaults(), transport, group, certs);
  }

  String ip(String suffix) {
    return p + suffix;
  }

  String paymentVip() {
    return ip("10.20") + ":80";
  }

  String greeterVip() {
    return ip("10.40") + ":9000";
  }

  TestPod pod(String name, String ipSuffix, SpiffeId id, TestPod.Behaviour b) throws InterruptedException {
    TestPod pod = new TestPod(name, ip(ipSuffix), id, certs, group, b);
    pods.add(pod);
    return pod;
  }

  /** The base mesh plus {@code policies}, translated (for unit tests; no sockets). */
  static MeshSnapshot snapshot(String policies) {
    MeshYaml.Result r = MeshYaml.load(baseYaml("127.99.") + "\n---\n" + policies, "test");
    if (!r.errors().isEmpty()) {
      throw new AssertionError("YAML errors: " + r.errors());
    }
    MeshSnapshot s = new MeshTranslator().translate(r.objects());
    if (!s.rejections().isEmpty()) {
      throw new AssertionError("rejected: " + s.rejections());
    }
    return s;
  }

  /** Publishes the base mesh plus {@code policies} (YAML); fails on YAML or validation errors. */
  MeshSnapshot apply(String policies) {
    MeshYaml.Result r = MeshYaml.load(baseYaml() + "\n---\n" + policies, "test");
    if (!r.errors().isEmpty()) {
      throw new AssertionError("YAML errors: " + r.errors());
    }
    MeshSnapshot s = new MeshTranslator().translate(r.objects());
    if (!s.rejections().isEmpty()) {
      throw new AssertionError("rejected: " + s.rejections());
    }
    publisher.publish(s);
    return s;
  }

  Waypoint startWaypoint() throws InterruptedException {
    return startWaypoint(b -> { });
  }

  /** Starts the waypoint with {@code tuning} applied to its builder (limits, timeouts). */
  Waypoint startWaypoint(java.util.function.Consumer<Waypoint.Builder> tuning) throws InterruptedException {
    Waypoint.Builder b = Waypoint.builder().name("payment-waypoint").namespace("production").config(publisher)
        .identityProvider(certs).transport(transport).eventLoopGroup(group);
    tuning.accept(b);
    waypoint = b.build().start();
    return waypoint;
  }

  TestClient client(SpiffeId as) {
    return new TestClient(clientHbone, as, WAYPOINT, waypoint.address());
  }

  @Override
  public void close() {
    if (waypoint != null) {
      waypoint.close();
    }
    clientHbone.close();
    pods.forEach(TestPod::close);
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly();
  }

  String baseYaml() {
    return baseYaml(p);
  }

  /** The base mesh on {@code prefix} ("127.b."). */
  static String baseYaml(String prefix) {
    return """
        apiVersion: v1
        kind: Namespace
        metadata:
          name: production
          labels:
            istio.io/dataplane-mode: ambient
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: api-gateway-0, namespace: production, labels: {app: api-gateway, version: v1}}
        spec: {nodeName: node-a, serviceAccountName: api-gateway}
        status: {phase: Running, podIP: @@1.10}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: orders-0, namespace: production, labels: {app: orders, version: v1}}
        spec: {nodeName: node-a, serviceAccountName: orders}
        status: {phase: Running, podIP: @@1.11}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: payment-v1-0, namespace: production, labels: {app: payment-service, version: v1}}
        spec: {nodeName: node-b, serviceAccountName: payment-service}
        status: {phase: Running, podIP: @@2.20}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: payment-v2-0, namespace: production, labels: {app: payment-service, version: v2}}
        spec: {nodeName: node-b, serviceAccountName: payment-service}
        status: {phase: Running, podIP: @@2.21}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: greeter-0, namespace: production, labels: {app: greeter, version: v1}}
        spec: {nodeName: node-b, serviceAccountName: payment-service}
        status: {phase: Running, podIP: @@2.40}
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: payment-service
          namespace: production
          labels: {istio.io/use-waypoint: payment-waypoint}
        spec:
          clusterIP: @@10.20
          selector: {app: payment-service}
          ports:
          - {name: http, port: 80, targetPort: 8080}
          - {name: tcp-raw, port: 7000, targetPort: 8080}
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: greeter
          namespace: production
          labels: {istio.io/use-waypoint: payment-waypoint}
        spec:
          clusterIP: @@10.40
          selector: {app: greeter}
          ports:
          - {name: grpc, port: 9000, targetPort: 8080}
        ---
        apiVersion: gateway.networking.k8s.io/v1
        kind: Gateway
        metadata:
          name: payment-waypoint
          namespace: production
          labels: {istio.io/waypoint-for: service}
        spec:
          gatewayClassName: istio-waypoint
          listeners:
          - {name: mesh, port: 15008, protocol: HBONE}
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          name: payment-waypoint-0
          namespace: production
          labels: {gateway.networking.k8s.io/gateway-name: payment-waypoint, istio.io/dataplane-mode: none}
        spec: {nodeName: node-a, serviceAccountName: payment-waypoint}
        status: {phase: Running, podIP: @@1.30}
        """.replace("@@", prefix);
  }
}
