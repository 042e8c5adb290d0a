package dev.ambientj.ztunnel.inpod;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.model.Workload;
import dev.ambientj.config.zds.Netns;
import dev.ambientj.config.zds.SeqPacketListener;
import dev.ambientj.config.zds.SeqPacketSocket;
import dev.ambientj.config.zds.proto.AddWorkload;
import dev.ambientj.config.zds.proto.DelWorkload;
import dev.ambientj.config.zds.proto.SnapshotSent;
import dev.ambientj.config.zds.proto.Version;
import dev.ambientj.config.zds.proto.WorkloadInfo;
import dev.ambientj.config.zds.proto.WorkloadRequest;
import dev.ambientj.config.zds.proto.WorkloadResponse;
import dev.ambientj.config.zds.proto.ZdsHello;
import dev.ambientj.hbone.identity.LocalCertificateAuthority;
import dev.ambientj.hbone.transport.Transport;
import dev.ambientj.ztunnel.ExampleMesh;
import dev.ambientj.ztunnel.Ztunnel;
import dev.ambientj.ztunnel.telemetry.AccessLogSink;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ztunnel in in-pod mode against a scripted node agent: the pod's listeners appear inside the
 * pod's network namespace (marked 1337) before the Ack, and go away on DelWorkload. Needs root.
 */
class InPodModeTest {
  @TempDir Path dir;

  @Test
  void addBindsListenersInsideThePodNamespaceBeforeTheAck() throws Exception {
    PrivilegedNetns.require();
    Workload orders = ExampleMesh.workload("orders-0", "production", "orders", "node-a",
        "10.244.9.2", true, null, "orders", "v1");
    SnapshotPublisher config = new SnapshotPublisher();
    config.publish(ExampleMesh.snapshot(List.of(orders), List.of()));
    Path sock = dir.resolve("ztunnel.sock");
    try (PrivilegedNetns pod = PrivilegedNetns.create("ambientj-zt");
        SeqPacketListener agent = SeqPacketListener.bind(sock);
        Ztunnel zt = Ztunnel.builder().node("node-a").config(config)
            .identityProvider(LocalCertificateAuthority.create(ExampleMesh.TD)
                .asIdentityProvider(Duration.ofHours(1)))
            .transport(Transport.select(Transport.Kind.EPOLL))
            .adminAddress(java.net.InetAddress.getLoopbackAddress()).nodePorts(0, 0, 0)
            .accessLog(AccessLogSink.discard()).inPod(sock).build().start();
        SeqPacketSocket conn = agent.accept()) {
      conn.setTimeouts(Duration.ofSeconds(10));
      assertThat(zt.scrapeMetrics()).contains("workload_manager_active_proxy_count 0.0",
          "workload_manager_pending_proxy_count 0.0");
      assertThat(ZdsHello.parseFrom(conn.receive().data()).getVersion()).isEqualTo(Version.V1);
      assertThat(zt.ready()).as("not ready before the snapshot").isFalse();

      // Add without an fd: NACK
      conn.send(add(orders).toByteArray(), -1);
      assertThat(ack(conn)).contains("without a network namespace");

      int fd = Netns.open(pod.path());
      try {
        conn.send(add(orders).toByteArray(), fd);
      } finally {
        Netns.close(fd);
      }
      assertThat(ack(conn)).isEmpty();
      assertThat(zt.scrapeMetrics()).as("the pod served in-pod counts as an active proxy")
          .contains("workload_manager_active_proxy_count 1.0",
              "workload_manager_pending_proxy_count 0.0",
              "workload_manager_proxies_started_total 1.0");
      String listening = pod.exec("ss", "-ltnHe");
      // Netty's epoll sockets are dual-stack: the wildcard shows as *, 127.0.0.1 as v4-mapped
      assertThat(listening).contains("*:15001", "*:15006", "*:15008", "127.0.0.1]:15080");
      assertThat(listening.lines().filter(l -> l.contains(":150")).toList())
          .allSatisfy(l -> assertThat(l).contains("fwmark:0x539"));
      assertThat(PrivilegedNetns.run("ss", "-ltnH")).doesNotContain("*:15001");

      conn.send(WorkloadRequest.newBuilder().setSnapshotSent(SnapshotSent.getDefaultInstance())
          .build().toByteArray(), -1);
      assertThat(ack(conn)).isEmpty();
      assertThat(zt.awaitReady(Duration.ofSeconds(10))).isTrue();

      conn.send(WorkloadRequest.newBuilder().setDel(DelWorkload.newBuilder()
          .setUid(orders.uid())).build().toByteArray(), -1);
      assertThat(ack(conn)).isEmpty();
      assertThat(pod.exec("ss", "-ltnH")).doesNotContain(":15001", ":15008");
      assertThat(zt.scrapeMetrics()).contains("workload_manager_active_proxy_count 0.0",
          "workload_manager_proxies_stopped_total 1.0");
    }
  }

  private static WorkloadRequest add(Workload w) {
    return WorkloadRequest.newBuilder().setAdd(AddWorkload.newBuilder().setUid(w.uid())
        .setWorkloadInfo(WorkloadInfo.newBuilder().setName(w.name()).setNamespace(w.namespace())
            .setServiceAccount(w.serviceAccount()))).build();
  }

  private static String ack(SeqPacketSocket conn) throws Exception {
    return WorkloadResponse.parseFrom(conn.receive().data()).getAck().getError();
  }
}
