package dev.ambientj.it;

import static dev.ambientj.it.FailClosedConfigFileTest.dumpShows;
import static dev.ambientj.it.FailClosedConfigFileTest.eventually;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.ProxyConfigSources;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.ca.CaClient;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.PolicyObjects;
import dev.ambientj.config.server.ConfigServerCommand;
import dev.ambientj.hbone.identity.CertificateManager;
import dev.ambientj.hbone.transport.Transport;
import dev.ambientj.ztunnel.ListenerBinder;
import dev.ambientj.ztunnel.Ztunnel;
import io.fabric8.istio.api.api.security.v1beta1.PeerAuthenticationMutualTLSMode;
import io.fabric8.istio.api.security.v1.PeerAuthentication;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.netty.channel.EventLoopGroup;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fail closed, cluster mode (issue 15, item 5): a real config server ({@code mesh config-server
 * --config mesh.yaml --config policies.yaml}) feeds two ztunnels over delta xDS ({@code --xds})
 * and signs their certificates; the test rewrites the policies file badly while two callers keep
 * connecting ({@link AccessProbe}). The server never pushes a set from which the policy vanished:
 * the denied caller stays denied and the allowed one allowed through every bad write, and each
 * rejection reaches the ztunnels' {@code /config_dump}. Then a version of a PeerAuthentication the
 * ztunnel cannot apply (sent as a server of another version might) is NACKed: the ztunnel keeps
 * the previous version of that resource and shows the NACK in its config dump. Example mesh at
 * 127.73.x, payment-service without its waypoint.
 */
class FailClosedConfigClusterTest {
  private static final String P = "127.73";
  private static final Duration BOUND = Duration.ofSeconds(40);

  @TempDir Path dir;
  private final Transport transport = Transport.select(Transport.Kind.AUTO);
  private final List<AutoCloseable> closeables = new ArrayList<>();

  @Test
  void theServerNeverPushesASetWithoutThePolicyAndAProxyNacksWhatItCannotApply()
      throws Exception {
    Path meshFile = dir.resolve("mesh.yaml");
    Path policies = dir.resolve("policies.yaml");
    Files.writeString(meshFile, TestMeshes.example(P)
        .replace("istio.io/use-waypoint: payment-waypoint", "app.kubernetes.io/part-of: shop"));
    Files.writeString(policies, PaymentAccessEdits.ONLY_GATEWAY);
    EventLoopGroup group = transport.newEventLoopGroup(2, "it-fail-closed");
    ConfigServerCommand.Running server = ConfigServerCommand.start(new String[] {
        "--config", meshFile.toString(), "--config", policies.toString(),
        "--state-dir", dir.resolve("state").toString(), "--listen", "127.0.0.1:0"},
        new PrintStream(new ByteArrayOutputStream(), true));
    try {
      ztunnel(server, "node-a", new SnapshotPublisher(), group);
      SnapshotPublisher configB = new SnapshotPublisher();
      Ztunnel nodeB = ztunnel(server, "node-b", configB, group);
      own(TcpEchoServer.start(group, transport, new InetSocketAddress(P + ".2.20", 9000)));

      try (AccessProbe probe = new AccessProbe(socks(server, "api-gateway-0"),
          socks(server, "orders-0"), P + ".2.20", 9000).start("valid: only api-gateway")) {
        eventually("both callers tried under the valid policy", () -> probe.phases()
            .get("valid: only api-gateway").deniedAttempts.get() >= 3);
        for (Map.Entry<String, PaymentAccessEdits.BadWrite> bad :
            PaymentAccessEdits.badWrites().entrySet()) {
          probe.phase(bad.getKey());
          Files.write(policies, bad.getValue().bytes());
          eventually("the server's rejection of '" + bad.getKey() + "' reaches node-b",
              () -> dumpShows(nodeB, bad.getValue().rejection()));
          AccessProbe.Counts c = probe.phases().get(bad.getKey());
          long before = c.deniedAttempts.get();
          eventually("a few more attempts", () -> c.deniedAttempts.get() >= before + 3);
        }
        probe.phase("half-written (60 %, the rest 1 s later)");
        PaymentAccessEdits.writeHalfThenTheRest(policies);
        eventually("the completed file applied",
            () -> nodeB.configDump().contains("\"rejections\": []"));

        AccessProbe.Counts allowed = probe.phase("valid: api-gateway and orders");
        Files.writeString(policies, PaymentAccessEdits.GATEWAY_AND_ORDERS);
        eventually("orders is let in once a valid file allows it",
            () -> allowed.deniedLetIn.get() > 0);
        System.out.println("fail-closed, cluster mode, per write:\n" + probe.report());
        probe.phases().forEach((name, c) -> {
          if (!name.equals("valid: api-gateway and orders")) {
            assertThat(c.deniedLetIn.get()).as("orders let in during: " + name).isZero();
          }
          assertThat(c.allowedRefused.get()).as("api-gateway refused during: " + name).isZero();
        });
      }

      // A PeerAuthentication version node-b's ztunnel cannot apply (an unknown field, which this
      // server's translator would have refused): published to the server's xDS as a server that
      // skipped the check would send it.
      MeshSnapshot current = server.publisher().snapshot();
      PeerAuthentication inForce = current.policies().peerAuthentications().getFirst();
      PeerAuthentication skewed = new KubernetesSerialization().clone(inForce);
      skewed.getSpec().getMtls().setMode(PeerAuthenticationMutualTLSMode.DISABLE);
      skewed.getSpec().setAdditionalProperty("portLevelMtlss", Map.of("9000", "DISABLE"));
      PolicyObjects p = current.policies();
      long nacks = server.xds().nackCount();
      server.publisher().publish(MeshSnapshot.of(current.version() + 1_000_000,
          current.trustDomain(), current.workloads(), current.services(), current.waypoints(),
          current.nodes(), new PolicyObjects(p.virtualServices(), p.destinationRules(),
              p.authorizationPolicies(), List.of(skewed), p.httpRoutes(), p.grpcRoutes(),
              p.localRateLimits(), p.notApplicable(), p.telemetries()), List.of()));
      eventually("node-b NACKs the PeerAuthentication", () -> server.xds().nackCount() > nacks);
      assertThat(server.xds().recentNacks()).anySatisfy(n -> assertThat(n.message())
          .contains("PeerAuthentication/production/default")
          .contains("spec.portLevelMtlss: unknown field"));
      eventually("node-b's config dump shows its NACK",
          () -> dumpShows(nodeB, "MeshObject PeerAuthentication/production/default: NACKed:"));
      assertThat(nodeB.configDump()).contains("\"previousInForce\": true");
      assertThat(configB.snapshot().policies().peerAuthentications()).singleElement()
          .satisfies(pa -> assertThat(pa.getSpec().getMtls().getMode())
              .as("the previous version stays in force").isEqualTo(PeerAuthenticationMutualTLSMode.PERMISSIVE));
      // The gauge follows the snapshot in its own subscriber, which may run after the dump sees it.
      eventually("node-b's ambientj_config_rejections counts the NACK", () -> HostModeTrafficTest.sum(
          nodeB.scrapeMetrics(), "ambientj_config_rejections", "kind=\"ambientj.xds.v1.MeshObject\"") == 1);
    } finally {
      for (int i = closeables.size() - 1; i >= 0; i--) {
        closeables.get(i).close();
      }
      server.close();
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
  }

  private Ztunnel ztunnel(ConfigServerCommand.Running server, String node,
      SnapshotPublisher config, EventLoopGroup group) throws Exception {
    String token = Files.readString(server.tokens().tokenFile(node)).strip();
    own(ProxyConfigSources.start(new ProxyConfigSources.Options(List.of(),
        server.server().address(), "ztunnel", "ztunnel-" + node, "istio-system", node, token,
        dir.resolve("xds-cache-" + node + ".pb")), config, BOUND));
    CaClient ca = own(CaClient.builder(hostPort(server.server().address()))
        .tokenFile(server.tokens().tokenFile(node)).build());
    CertificateManager certs = own(CertificateManager.create(CaSource.of(ca, Duration.ofHours(1))));
    Ztunnel z = own(Ztunnel.builder().node(node).config(config).identityProvider(certs)
        .transport(transport).eventLoopGroup(group).binder(ListenerBinder.hostMode())
        .build().start());
    assertThat(z.awaitReady(Mesh.TIMEOUT)).as("ztunnel on %s ready", node).isTrue();
    return z;
  }

  private static InetSocketAddress socks(ConfigServerCommand.Running server, String pod) {
    return new InetSocketAddress(server.publisher().snapshot().workloads().stream()
        .filter(w -> w.name().equals(pod)).findFirst().orElseThrow().addresses().getFirst(),
        15080);
  }

  private <T extends AutoCloseable> T own(T c) {
    closeables.add(c);
    return c;
  }

  private static String hostPort(InetSocketAddress a) {
    return a.getAddress().getHostAddress() + ":" + a.getPort();
  }
}
