package dev.ambientj.cni.plugin;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.cni.agent.AgentTestSupport;
import dev.ambientj.cni.agent.NodeAgent;
import dev.ambientj.cni.redirect.CommandRunner;
import dev.ambientj.cni.redirect.InpodRedirect;
import dev.ambientj.cni.redirect.NetnsProbe;
import dev.ambientj.testing.Privileged;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A pod as a network namespace ({@code ambj-test-<random>}) joined by a veth pair to a peer
 * namespace; addresses 10.250.N.2 (pod) and 10.250.N.1 (peer) exist only inside the two. The
 * plugin's ADD, through a real {@link NodeAgent} on a temporary socket, must capture the pod's
 * outbound TCP to 15001 and inbound TCP to 15006, leave 15008 alone, and DEL must leave nothing.
 *
 * <p>Needs root, ip, iptables, nsenter: skipped with the reason printed otherwise, failed instead
 * when {@code AMBIENTJ_REQUIRE_PRIVILEGED_TESTS=true}.
 */
class CniPluginNetnsTest {
  static String pod;
  static String peer;
  static String podIp;
  static String peerIp;
  static Process listener;

  @BeforeAll
  static void createNamespaces() throws Exception {
    Privileged.require("ip", "iptables", "iptables-save", "iptables-restore", "nsenter");
    String id = HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt()).substring(0, 6);
    int subnet = ThreadLocalRandom.current().nextInt(1, 255);
    pod = "ambj-test-" + id;
    peer = "ambj-test-" + id + "-peer";
    podIp = "10.250." + subnet + ".2";
    peerIp = "10.250." + subnet + ".1";
    sh("ip", "netns", "add", pod);
    sh("ip", "netns", "add", peer);
    sh("ip", "-n", pod, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", peer);
    for (String[] ns : new String[][] {{pod, podIp}, {peer, peerIp}}) {
      sh("ip", "-n", ns[0], "addr", "add", ns[1] + "/24", "dev", "eth0");
      sh("ip", "-n", ns[0], "link", "set", "eth0", "up");
      sh("ip", "-n", ns[0], "link", "set", "lo", "up");
    }
    // ztunnel's in-pod listeners, played by a helper process inside the pod's netns.
    listener =
        new ProcessBuilder(inNetns(pod, "listen", "15001", "15006", "15008"))
            .redirectErrorStream(true)
            .start();
    BufferedReader r =
        new BufferedReader(new InputStreamReader(listener.getInputStream(), StandardCharsets.UTF_8));
    assertThat(r.readLine()).isEqualTo("ready");
  }

  @AfterAll
  static void deleteNamespaces() throws Exception {
    if (listener != null) {
      listener.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
    for (String ns : new String[] {pod, peer}) {
      if (ns != null) {
        run(List.of("ip", "netns", "del", ns));
      }
    }
  }

  @Test
  void addCapturesThePodsTrafficAndDelRemovesEverything(@TempDir Path dir) throws Exception {
    String netns = "/var/run/netns/" + pod;
    // Before enrollment: nothing listens on the peer's port 80, nothing is captured.
    assertThat(connect(pod, peerIp, 80)).startsWith("error:");

    try (NodeAgent agent =
        NodeAgent.start(
            dir.resolve("agent.sock"),
            () -> AgentTestSupport.snapshot("default/" + pod),
            new InpodRedirect(CommandRunner.nsenter()))) {
      String config =
          "{\"cniVersion\":\"1.0.0\",\"name\":\"k8s-pod-network\",\"type\":\"ambientj-cni\",\"agentSocket\":\""
              + agent.socket() + "\",\"prevResult\":{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\""
              + podIp + "/24\"}]}}";

      String[] add = plugin("ADD", netns, config);
      assertThat(add[0]).as(add[1]).isEqualTo("0");
      assertThat(add[1]).contains(podIp + "/24");
      assertThat(plugin("ADD", netns, config)[0]).as("second ADD is idempotent").isEqualTo("0");

      String saved = sh("ip", "netns", "exec", pod, "iptables-save");
      for (String rule : expectedRules()) {
        assertThat(saved).contains(rule);
      }
      assertThat(saved.lines().filter(l -> l.equals("-A OUTPUT -j AMBIENTJ_OUTPUT")).count())
          .as("one hook per table after two ADDs")
          .isEqualTo(2);
      assertThat(sh("ip", "-n", pod, "rule", "show")).contains("32764:", "fwmark 0x111/0xfff lookup 100");
      assertThat(sh("ip", "-n", pod, "route", "show", "table", "100")).contains("local default dev lo");
      assertThat(plugin("CHECK", netns, config)[0]).isEqualTo("0");

      // Outbound from the pod to any address → 15001; inbound to the pod → 15006; 15008 untouched;
      // the pod to itself over loopback is not captured.
      assertThat(connect(pod, peerIp, 80)).isEqualTo("port 15001");
      assertThat(connect(pod, peerIp, 15008)).isEqualTo("port 15001");
      assertThat(connect(peer, podIp, 80)).isEqualTo("port 15006");
      assertThat(connect(peer, podIp, 15008)).isEqualTo("port 15008");
      assertThat(connect(pod, "127.0.0.1", 15008)).isEqualTo("port 15008");

      String[] del = plugin("DEL", netns, config);
      assertThat(del[0]).as(del[1]).isEqualTo("0");
      assertThat(del[1]).isEmpty();
      assertThat(sh("ip", "netns", "exec", pod, "iptables-save")).doesNotContain("AMBIENTJ");
      assertThat(sh("ip", "-n", pod, "rule", "show")).doesNotContain("32764:");
      assertThat(sh("ip", "-n", pod, "route", "show", "table", "100")).isBlank();
      assertThat(plugin("DEL", netns, config)[0]).as("second DEL is idempotent").isEqualTo("0");
      assertThat(connect(pod, peerIp, 80)).as("no capture after DEL").startsWith("error:");
    }
  }

  static List<String> expectedRules() {
    List<String> all = new ArrayList<>();
    for (String line : dev.ambientj.cni.redirect.InpodRedirectTestAccess.golden().split("\n")) {
      if (line.startsWith("-A ")) {
        all.add(line);
      }
    }
    return all;
  }

  static String[] plugin(String command, String netns, String config) {
    Map<String, String> env = new HashMap<>();
    env.put("CNI_COMMAND", command);
    env.put("CNI_CONTAINERID", "c0ffee");
    env.put("CNI_NETNS", netns);
    env.put("CNI_IFNAME", "eth0");
    env.put("CNI_PATH", "/opt/cni/bin");
    env.put("CNI_ARGS", "K8S_POD_NAMESPACE=default;K8S_POD_NAME=" + pod + ";K8S_POD_UID=uid-" + pod);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int rc =
        CniPlugin.run(
            env,
            new ByteArrayInputStream(config.getBytes(StandardCharsets.UTF_8)),
            new PrintStream(out, true, StandardCharsets.UTF_8),
            System.err);
    return new String[] {String.valueOf(rc), out.toString(StandardCharsets.UTF_8)};
  }

  static List<String> inNetns(String ns, String... probeArgs) {
    List<String> cmd = new ArrayList<>();
    cmd.addAll(List.of("ip", "netns", "exec", ns));
    cmd.add(ProcessHandle.current().info().command().orElse("java"));
    cmd.add("-Xshare:auto");
    cmd.add("-XX:TieredStopAtLevel=1");
    cmd.add("-cp");
    cmd.add(Path.of(NetnsProbe.class.getProtectionDomain().getCodeSource().getLocation().getPath()).toString());
    cmd.add(NetnsProbe.class.getName());
    cmd.addAll(List.of(probeArgs));
    return cmd;
  }

  static String connect(String ns, String host, int port) throws Exception {
    return run(inNetns(ns, "connect", host, String.valueOf(port))).strip();
  }

  static String sh(String... cmd) throws Exception {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IOException(String.join(" ", cmd) + " failed: " + out);
    }
    return out;
  }

  static String run(List<String> cmd) throws Exception {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    p.waitFor(30, TimeUnit.SECONDS);
    return out;
  }
}
