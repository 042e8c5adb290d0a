package dev.ambientj.cni.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.cni.redirect.CommandRunner;
import dev.ambientj.cni.redirect.InpodRedirect;
import dev.ambientj.config.model.MeshSnapshot;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Label changes of running pods, without CNI calls: the agent remembers every pod CNI ADD told it
 * about, captures it when it becomes enrolled, releases it when it leaves, and — with its pod
 * list on disk — does the same after a restart. Rules go to a recording runner; ztunnel is the
 * scripted one of {@link ZtunnelServerTest}; the netns is this process's own.
 */
class NodeAgentReconcileTest {
  private static final String NETNS = "/proc/self/ns/net";
  private static final MeshSnapshot A_OUT = AgentTestSupport.snapshot("default/other", "default/a");
  private static final MeshSnapshot A_IN = AgentTestSupport.snapshot("default/a");
  @TempDir Path dir;

  private final List<String> commands = Collections.synchronizedList(new ArrayList<>());
  private final InpodRedirect redirect = new InpodRedirect((ns, argv, stdin) -> {
    commands.add(String.join(" ", argv));
    return new CommandRunner.Result(0, "", "");
  });

  @Test
  void aPodLabelledAfterItStartedIsCapturedAndReleasedAgainWithoutCniCalls() throws Exception {
    AtomicReference<MeshSnapshot> config = new AtomicReference<>(A_OUT);
    Path podsFile = dir.resolve("pods");
    try (NodeAgent agent = NodeAgent.start(dir.resolve("agent.sock"), config::get, redirect, podsFile);
        ZtunnelServer zds = ZtunnelServer.start(dir.resolve("zds.sock"));
        ZtunnelServerTest.FakeZtunnel zt = new ZtunnelServerTest.FakeZtunnel(zds.socket())) {
      agent.zds(zds);
      assertThat(zt.next().request().hasSnapshotSent()).isTrue();

      assertThat(agent.answer("ADD " + NETNS + " default a uid-a")).isEqualTo("SKIP");
      assertThat(commands).isEmpty();
      assertThat(Files.readString(podsFile)).contains("uid-a uid-a default a " + NETNS + " false");

      config.set(A_IN); // the namespace (or pod) is labelled
      agent.reconcileNow(A_IN);
      assertThat(commands).contains("iptables-restore --noflush");
      ZtunnelServerTest.Seen add = zt.next();
      assertThat(add.request().getAdd().getUid()).isEqualTo("uid-a");
      assertThat(add.netnsFd()).isTrue();
      assertThat(Files.readString(podsFile)).contains(" true");

      agent.reconcileNow(A_IN); // nothing changed: nothing done
      assertThat(zt.seen.poll(200, TimeUnit.MILLISECONDS)).isNull();

      commands.clear();
      config.set(A_OUT); // un-labelled
      agent.reconcileNow(A_OUT);
      assertThat(zt.next().request().getDel().getUid()).isEqualTo("uid-a");
      assertThat(commands).isNotEmpty();
      assertThat(zds.pods()).isEmpty();
      assertThat(Files.readString(podsFile)).contains(" false");

      // the asynchronous entry point does the same on the agent's thread
      agent.reconcile(A_IN);
      assertThat(zt.next().request().getAdd().getUid()).isEqualTo("uid-a");

      assertThat(agent.answer("DEL " + NETNS + " default a uid-a")).isEqualTo("OK");
      assertThat(zt.next().request().getDel().getUid()).isEqualTo("uid-a");
      assertThat(Files.readString(podsFile)).doesNotContain("uid-a");
    }
  }

  @Test
  void aRestartedAgentCapturesThePodsCniToldItsPredecessorAbout() throws Exception {
    Path podsFile = dir.resolve("state/pods");
    try (NodeAgent first = NodeAgent.start(dir.resolve("a1.sock"), () -> A_OUT, redirect, podsFile)) {
      assertThat(first.answer("ADD " + NETNS + " default a uid-a")).isEqualTo("SKIP");
      assertThat(first.answer("ADD /no/such/netns default gone uid-gone")).isEqualTo("SKIP");
    }
    // labelled while no agent ran; the new agent starts before ztunnel connects
    try (NodeAgent agent = NodeAgent.start(dir.resolve("a2.sock"), () -> A_IN, redirect, podsFile);
        ZtunnelServer zds = ZtunnelServer.start(dir.resolve("zds.sock"))) {
      agent.zds(zds);
      agent.reconcileNow(A_IN); // returns without waiting for a ztunnel
      assertThat(commands).contains("iptables-restore --noflush");
      assertThat(zds.pods()).containsOnlyKeys("uid-a");
      assertThat(Files.readString(podsFile)).doesNotContain("uid-gone");
      try (ZtunnelServerTest.FakeZtunnel zt = new ZtunnelServerTest.FakeZtunnel(zds.socket())) {
        assertThat(zt.next().request().getAdd().getUid()).as("in ztunnel's snapshot").isEqualTo("uid-a");
        assertThat(zt.next().request().hasSnapshotSent()).isTrue();
      }
    }
  }
}
