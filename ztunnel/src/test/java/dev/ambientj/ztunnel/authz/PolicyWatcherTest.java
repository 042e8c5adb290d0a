package dev.ambientj.ztunnel.authz;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.MeshTranslator;
import dev.ambientj.config.MeshYaml;
import dev.ambientj.config.authz.AuthzRequest;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.ztunnel.proxy.InboundConnections;
import dev.ambientj.ztunnel.telemetry.TrafficMetrics;
import io.netty.channel.embedded.EmbeddedChannel;
import java.net.InetAddress;
import org.junit.jupiter.api.Test;

class PolicyWatcherTest {
  private static final String POD = """
      apiVersion: v1
      kind: Namespace
      metadata:
        name: production
        labels:
          istio.io/dataplane-mode: ambient
      ---
      apiVersion: v1
      kind: Pod
      metadata:
        name: payment-0
        namespace: production
        uid: payment-uid
        labels:
          app: payment
      spec:
        nodeName: node-b
        serviceAccountName: payment
        containers:
        - name: app
          image: example/app:1.0
      status:
        phase: Running
        podIP: 10.0.2.20
      """;
  private static final String ALLOW_GATEWAY_ONLY = """
      ---
      apiVersion: security.istio.io/v1
      kind: AuthorizationPolicy
      metadata:
        name: payment-access
        namespace: production
      spec:
        selector:
          matchLabels:
            app: payment
        rules:
        - from:
          - source:
              principals: ["cluster.local/ns/production/sa/api-gateway"]
      """;
  private static final String STRICT = """
      ---
      apiVersion: security.istio.io/v1
      kind: PeerAuthentication
      metadata:
        name: default
        namespace: istio-system
      spec:
        mtls:
          mode: STRICT
      """;

  private static MeshSnapshot snapshot(String yaml) {
    MeshYaml.Result r = MeshYaml.load(yaml, "test");
    assertThat(r.errors()).isEmpty();
    MeshSnapshot s = new MeshTranslator().translate(r.objects());
    assertThat(s.rejections()).isEmpty();
    return s;
  }

  @Test
  void closesOnlyTheConnectionsTheNewPolicyDenies() throws Exception {
    MeshSnapshot open = snapshot(POD);
    String uid = open.workloads().get(0).uid();
    InboundConnections connections = new InboundConnections();
    TrafficMetrics metrics = new TrafficMetrics();
    PolicyWatcher watcher = new PolicyWatcher(connections, new PolicyStates(), metrics);
    InetAddress pod = InetAddress.getByName("10.0.2.20");
    InetAddress peer = InetAddress.getByName("10.0.1.10");
    EmbeddedChannel gwDown = new EmbeddedChannel();
    EmbeddedChannel gwUp = new EmbeddedChannel();
    EmbeddedChannel ordersDown = new EmbeddedChannel();
    EmbeddedChannel ordersUp = new EmbeddedChannel();
    EmbeddedChannel plainDown = new EmbeddedChannel();
    EmbeddedChannel plainUp = new EmbeddedChannel();
    TrackedConnection gateway = new TrackedConnection(uid, AuthzRequest.l4(
        "spiffe://cluster.local/ns/production/sa/api-gateway", peer, pod, 8080), false, gwDown, gwUp);
    TrackedConnection orders = new TrackedConnection(uid, AuthzRequest.l4(
        "spiffe://cluster.local/ns/production/sa/orders", peer, pod, 8080), false, ordersDown,
        ordersUp);
    TrackedConnection plaintext = new TrackedConnection(uid, AuthzRequest.l4(null, peer, pod, 8080),
        true, plainDown, plainUp);
    connections.track(gateway);
    connections.track(orders);
    connections.track(plaintext);

    assertThat(watcher.recheck(open)).isZero();
    assertThat(watcher.recheck(snapshot(POD + ALLOW_GATEWAY_ONLY))).isEqualTo(2);
    for (EmbeddedChannel ch : new EmbeddedChannel[] {gwDown, ordersDown, plainDown}) {
      ch.runPendingTasks();
    }

    assertThat(gwDown.isOpen()).isTrue();
    assertThat(ordersDown.isOpen()).isFalse();
    assertThat(ordersUp.isOpen()).isFalse();
    assertThat(orders.policyCloseReason()).isEqualTo(TrackedConnection.POLICY_CHANGE);
    assertThat(plainDown.isOpen()).isFalse();
    assertThat(gateway.policyCloseReason()).isNull();
    assertThat(metrics.scrape()).contains("phase=\"policy_change\"");
  }

  @Test
  void strictPeerAuthenticationClosesLivePlaintext() throws Exception {
    MeshSnapshot open = snapshot(POD);
    String uid = open.workloads().get(0).uid();
    InboundConnections connections = new InboundConnections();
    PolicyWatcher watcher = new PolicyWatcher(connections, new PolicyStates(), new TrafficMetrics());
    EmbeddedChannel down = new EmbeddedChannel();
    TrackedConnection plaintext = new TrackedConnection(uid, AuthzRequest.l4(null,
        InetAddress.getByName("10.9.9.9"), InetAddress.getByName("10.0.2.20"), 8080), true, down,
        new EmbeddedChannel());
    connections.track(plaintext);

    assertThat(watcher.recheck(snapshot(POD + STRICT))).isEqualTo(1);
    down.runPendingTasks();
    assertThat(down.isOpen()).isFalse();
    assertThat(plaintext.policyClosePolicy()).isEqualTo("PeerAuthentication STRICT");
  }
}
