package dev.ambientj.cni.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.cni.redirect.CommandRunner;
import dev.ambientj.cni.redirect.InpodRedirect;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.PolicyObjects;
import dev.ambientj.config.model.TunnelProtocol;
import dev.ambientj.config.model.Workload;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pods that were running before the agent knew them (no CNI ADD, no pod list): found by IP in a
 * proc tree (built as in {@link ProcNetnsFinderTest}), enrolled through the path of a CNI ADD —
 * rules (to a recording runner), ZDS Add (to the scripted ztunnel), pod list — and followed when
 * the process holding their netns path exits.
 */
class NodeAgentAdoptTest {
  @TempDir Path dir;

  private final List<String> rulesIn = Collections.synchronizedList(new ArrayList<>());
  private final InpodRedirect redirect = new InpodRedirect((ns, argv, stdin) -> {
    if (argv.get(0).equals("iptables-restore")) {
      rulesIn.add(ns);
    }
    return new CommandRunner.Result(0, "", "");
  });

  @Test
  void anEnrolledPodRunningBeforeTheAgentIsFoundByItsIpAndCaptured() throws Exception {
    Path proc = Files.createDirectories(dir.resolve("proc"));
    Path nsA = netns(proc, "a");
    process(proc, 1, netns(proc, "host"), "10.245.9.1");
    process(proc, 7, nsA, "10.245.9.7");
    process(proc, 8, nsA, "10.245.9.7");
    process(proc, 9, netns(proc, "b"), "10.245.9.8"); // node-b's pod, same host (as in tests)
    process(proc, 10, netns(proc, "c"), "10.245.9.10");
    MeshSnapshot config = snapshot(
        pod("a", "node-a", true, "10.245.9.7"),
        pod("b", "node-b", true, "10.245.9.8"),
        pod("c", "node-a", false, "10.245.9.10"), // not enrolled
        pod("d", "node-a", true)); // no IP yet
    Path podsFile = dir.resolve("pods");
    try (NodeAgent agent = NodeAgent.start(dir.resolve("agent.sock"), () -> config, redirect, podsFile);
        ZtunnelServer zds = ZtunnelServer.start(dir.resolve("zds.sock"));
        ZtunnelServerTest.FakeZtunnel zt = new ZtunnelServerTest.FakeZtunnel(zds.socket())) {
      agent.zds(zds).adoptRunningPods("node-a", proc);
      assertThat(zt.next().request().hasSnapshotSent()).isTrue();

      agent.reconcileNow(config);
      String path = proc.resolve("7/ns/net").toString();
      assertThat(rulesIn).as("rules in the lowest pid's netns").containsExactly(path);
      ZtunnelServerTest.Seen add = zt.next();
      assertThat(add.request().getAdd().getUid()).isEqualTo("uid-a");
      assertThat(add.request().getAdd().getWorkloadInfo().getServiceAccount()).isEqualTo("sa-a");
      assertThat(zds.pods().get("uid-a").netns()).isEqualTo(Path.of(path));
      long inode = ProcNetnsFinder.idOf(nsA).inode();
      assertThat(Files.readString(podsFile))
          .contains("uid-a uid-a default a " + path + " true " + inode)
          .doesNotContain("uid-b", "uid-c", "uid-d");
      assertThat(agent.scans()).isEqualTo(1);

      agent.reconcileNow(config); // known now: no scan, nothing sent
      assertThat(agent.scans()).isEqualTo(1);
      assertThat(zt.seen.poll(200, TimeUnit.MILLISECONDS)).isNull();

      // the pause process exits; another process of the pod holds the namespace
      deleteTree(proc.resolve("7"));
      agent.reconcileNow(config);
      String moved = proc.resolve("8/ns/net").toString();
      assertThat(Files.readString(podsFile)).contains("uid-a uid-a default a " + moved + " true " + inode);
      assertThat(zds.pods().get("uid-a").netns()).isEqualTo(Path.of(moved));
      assertThat(zt.seen.poll(200, TimeUnit.MILLISECONDS)).as("ztunnel keeps the pod").isNull();

      // pid 8 is reused by a process of another namespace: the pod's netns is gone
      deleteTree(proc.resolve("8"));
      process(proc, 8, netns(proc, "other"), "10.245.9.99");
      agent.reconcileNow(config);
      assertThat(zt.next().request().getDel().getUid()).isEqualTo("uid-a");
      assertThat(Files.readString(podsFile)).doesNotContain("uid-a");
      assertThat(zds.pods()).isEmpty();
    }
  }

  @Test
  void aCniAddedPodIsNotLookedForAndAMissedAddressWaitsBeforeTheNextScan() throws Exception {
    Path proc = Files.createDirectories(dir.resolve("proc"));
    process(proc, 1, netns(proc, "host"), "10.245.9.1");
    MeshSnapshot config = snapshot(pod("a", "node-a", true, "10.245.9.7"));
    AtomicLong now = new AtomicLong();
    try (NodeAgent agent = NodeAgent.start(dir.resolve("agent.sock"), () -> config, redirect, null)) {
      agent.adoptRunningPods("node-a", proc).clock(now::get);
      agent.reconcileNow(config);
      assertThat(agent.scans()).as("looked for 10.245.9.7, in vain").isEqualTo(1);
      agent.reconcileNow(config);
      assertThat(agent.scans()).as("missed a moment ago").isEqualTo(1);
      now.addAndGet(NodeAgent.RESCAN_AFTER.toNanos());
      process(proc, 7, netns(proc, "a"), "10.245.9.7");
      agent.reconcileNow(config);
      assertThat(agent.scans()).isEqualTo(2);
      assertThat(rulesIn).containsExactly(proc.resolve("7/ns/net").toString());
    }

    rulesIn.clear();
    try (NodeAgent agent = NodeAgent.start(dir.resolve("agent2.sock"), () -> config, redirect, null)) {
      agent.adoptRunningPods("node-a", proc);
      assertThat(agent.answer("ADD /proc/self/ns/net default a uid-a")).isEqualTo("OK");
      rulesIn.clear();
      agent.reconcileNow(config);
      assertThat(agent.scans()).as("CNI named the pod").isZero();
      assertThat(rulesIn).isEmpty();
    }
  }

  static MeshSnapshot snapshot(Workload... workloads) {
    return MeshSnapshot.of(1, "cluster.local", List.of(workloads), List.of(), List.of(), List.of(),
        PolicyObjects.empty(), List.of());
  }

  static Workload pod(String name, String node, boolean enrolled, String... ips) {
    List<InetAddress> addresses = new ArrayList<>();
    for (String ip : ips) {
      addresses.add(InetAddress.ofLiteral(ip));
    }
    return new Workload("uid-" + name, name, "default", "sa-" + name, "cluster.local", node,
        addresses, enrolled ? Map.of("istio.io/dataplane-mode", "ambient") : Map.of(), enrolled,
        enrolled ? TunnelProtocol.HBONE : TunnelProtocol.NONE, null, true, null, null, null);
  }

  private static Path netns(Path proc, String name) throws Exception {
    Path nsfs = Files.createDirectories(proc.resolve("nsfs"));
    Path f = nsfs.resolve(name);
    return Files.exists(f) ? f : Files.writeString(f, name);
  }

  private static void process(Path proc, long pid, Path ns, String ip) throws Exception {
    Path d = proc.resolve(Long.toString(pid));
    Files.createDirectories(d.resolve("ns"));
    Files.createSymbolicLink(d.resolve("ns/net"), ns);
    Files.createDirectories(d.resolve("net"));
    Files.writeString(d.resolve("net/fib_trie"), ProcNetnsFinderTest.fibTrie(ip));
  }

  private static void deleteTree(Path p) throws Exception {
    try (var walk = Files.walk(p)) {
      for (Path x : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.delete(x);
      }
    }
  }
}
