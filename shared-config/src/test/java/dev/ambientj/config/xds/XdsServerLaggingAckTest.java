package dev.ambientj.config.xds;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.MeshTranslator;
import dev.ambientj.config.MeshYaml;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.model.MeshSnapshot;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.envoyproxy.envoy.service.discovery.v3.Resource;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A client whose ACK lags several pushes (a loaded node during churn) gets, once it ACKs, exactly
 * what changed since the set it holds: additions, removals, and nothing it already has.
 */
class XdsServerLaggingAckTest {
  private static final long BOUND_MS = Duration.ofSeconds(10).toMillis();

  private static String pod(String name, String ip) {
    return """
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: %s, namespace: production, labels: {app: extra}}
        spec: {nodeName: node-b, serviceAccountName: extra}
        status: {phase: Running, podIP: %s}
        """.formatted(name, ip);
  }

  private final MeshTranslator translator = new MeshTranslator();

  private MeshSnapshot translate(String yaml) {
    return translator.translate(MeshYaml.load(yaml, "mesh.yaml").objects());
  }

  private static void servedVersion(XdsServer xds, MeshSnapshot s) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(BOUND_MS);
    while (xds.servedVersion() != s.version() && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    assertThat(xds.servedVersion()).isEqualTo(s.version());
  }

  @Test
  void anAckAfterSeveralPushesGetsExactlyWhatChangedSinceTheSetItHolds() throws Exception {
    String mesh = Meshes.exampleYaml();
    SnapshotPublisher snapshots = new SnapshotPublisher();
    snapshots.publish(translate(mesh + pod("extra-a", "127.0.2.90")));
    XdsServer xds = XdsServer.builder(snapshots).debounce(Duration.ZERO).build();
    try {
      BlockingQueue<DeltaDiscoveryResponse> received = new LinkedBlockingQueue<>();
      StreamObserver<DeltaDiscoveryRequest> requests =
          xds.deltaAggregatedResources(new StreamObserver<>() {
            @Override
            public void onNext(DeltaDiscoveryResponse r) {
              received.add(r);
            }

            @Override
            public void onError(Throwable t) {}

            @Override
            public void onCompleted() {}
          });
      requests.onNext(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS)
          .setNode(ProxyNode.node("ztunnel", "127.0.100.2", "ztunnel-b", "istio-system", "node-b"))
          .build());
      DeltaDiscoveryResponse initial = received.poll(BOUND_MS, TimeUnit.MILLISECONDS);
      assertThat(initial).isNotNull();
      requests.onNext(ack(initial));

      // The client holds extra-a. Next: extra-b added — pushed, not ACKed yet.
      MeshSnapshot s1 = translate(mesh + pod("extra-a", "127.0.2.90") + pod("extra-b",
          "127.0.2.91"));
      snapshots.publish(s1);
      DeltaDiscoveryResponse inFlight = received.poll(BOUND_MS, TimeUnit.MILLISECONDS);
      assertThat(inFlight).isNotNull();
      assertThat(names(inFlight)).containsExactly(uid(s1, "extra-b"));

      // Three more snapshots while that response is in flight: extra-a goes, extra-c comes and
      // goes, extra-b's address changes and changes back, orders-0 goes.
      MeshSnapshot s2 = translate(mesh + pod("extra-b", "127.0.2.92") + pod("extra-c",
          "127.0.2.93"));
      snapshots.publish(s2);
      servedVersion(xds, s2);
      MeshSnapshot s3 = translate(mesh.replace("name: orders-0", "name: orders-9")
          + pod("extra-b", "127.0.2.91") + pod("extra-c", "127.0.2.93"));
      snapshots.publish(s3);
      servedVersion(xds, s3);
      MeshSnapshot s4 = translate(mesh.replace("name: orders-0", "name: orders-9")
          + pod("extra-b", "127.0.2.91"));
      snapshots.publish(s4);
      servedVersion(xds, s4);
      assertThat(received).as("nothing while a response is in flight").isEmpty();

      requests.onNext(ack(inFlight));
      DeltaDiscoveryResponse after = received.poll(BOUND_MS, TimeUnit.MILLISECONDS);
      assertThat(after).isNotNull();
      assertThat(names(after)).as("added since the held set, and nothing it holds")
          .containsExactly(uid(s4, "orders-9"));
      assertThat(after.getRemovedResourcesList()).containsExactlyInAnyOrder(
          uid(s1, "extra-a"), uid(s1, "orders-0"));
      requests.onCompleted();
    } finally {
      xds.close();
    }
  }

  private static DeltaDiscoveryRequest ack(DeltaDiscoveryResponse r) {
    return DeltaDiscoveryRequest.newBuilder().setTypeUrl(r.getTypeUrl())
        .setResponseNonce(r.getNonce()).build();
  }

  private static java.util.List<String> names(DeltaDiscoveryResponse r) {
    return r.getResourcesList().stream().map(Resource::getName).toList();
  }

  private static String uid(MeshSnapshot s, String pod) {
    return s.workloads().stream().filter(w -> w.name().equals(pod)).findFirst().orElseThrow()
        .uid();
  }
}
