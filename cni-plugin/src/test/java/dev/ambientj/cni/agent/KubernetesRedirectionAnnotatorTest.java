package dev.ambientj.cni.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.cni.redirect.CommandRunner;
import dev.ambientj.cni.redirect.InpodRedirect;
import dev.ambientj.config.model.MeshSnapshot;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ambient.istio.io/redirection} as users see it on the pod: {@code enabled} once the agent
 * captured it and ztunnel acked, gone once it is released; against Fabric8's mock API server.
 */
@EnableKubernetesMockClient(crud = true)
class KubernetesRedirectionAnnotatorTest {
  static KubernetesClient client;
  @TempDir Path dir;

  @Test
  void enabledAfterZtunnelsAckAndRemovedOnUnenroll() throws Exception {
    client.pods().inNamespace("default").resource(new PodBuilder()
        .withNewMetadata().withName("a").withNamespace("default").withUid("uid-a")
        .withAnnotations(Map.of("keep", "me")).endMetadata().build()).create();
    MeshSnapshot in = AgentTestSupport.snapshot("default/a");
    MeshSnapshot out = AgentTestSupport.snapshot("default/other", "default/a");
    AtomicReference<MeshSnapshot> config = new AtomicReference<>(in);
    InpodRedirect redirect = new InpodRedirect((ns, argv, stdin) -> new CommandRunner.Result(0, "", ""));
    try (KubernetesRedirectionAnnotator annotator = new KubernetesRedirectionAnnotator(client);
        NodeAgent agent = NodeAgent.start(dir.resolve("agent.sock"), config::get, redirect, null);
        ZtunnelServer zds = ZtunnelServer.start(dir.resolve("zds.sock"));
        ZtunnelServerTest.FakeZtunnel zt = new ZtunnelServerTest.FakeZtunnel(zds.socket())) {
      agent.zds(zds).annotator(annotator);
      zt.next(); // empty snapshot

      assertThat(agent.answer("ADD /proc/self/ns/net default a uid-a")).isEqualTo("OK");
      eventually(() -> "enabled".equals(annotation("a")));
      assertThat(pod("a").getMetadata().getAnnotations()).containsEntry("keep", "me");

      config.set(out);
      agent.reconcileNow(out);
      eventually(() -> annotation("a") == null);
      assertThat(pod("a").getMetadata().getAnnotations()).containsEntry("keep", "me");

      // a NACKed pod is not marked enabled; a pod unknown to the API is no error
      config.set(in);
      assertThat(agent.answer("ADD /proc/self/ns/net default a bad-a")).startsWith("ERR");
      annotator.enabled("default", "no-such-pod");
    }
    assertThat(annotation("a")).isNull();
  }

  private static Pod pod(String name) {
    return client.pods().inNamespace("default").withName(name).get();
  }

  private static String annotation(String name) {
    Map<String, String> a = pod(name).getMetadata().getAnnotations();
    return a == null ? null : a.get(RedirectionAnnotator.ANNOTATION);
  }

  private static void eventually(BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("condition within 10 s").isLessThan(deadline);
      Thread.sleep(20);
    }
  }
}
