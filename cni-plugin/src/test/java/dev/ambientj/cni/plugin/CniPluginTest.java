package dev.ambientj.cni.plugin;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.cni.agent.AgentTestSupport;
import dev.ambientj.cni.agent.NodeAgent;
import dev.ambientj.cni.redirect.CommandRunner;
import dev.ambientj.cni.redirect.InpodRedirect;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CniPluginTest {
  static final String PREV =
      "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"/var/run/netns/p\"}],"
          + "\"ips\":[{\"address\":\"10.250.0.2/24\",\"interface\":0}]}";

  @TempDir Path dir;
  Path socket;
  NodeAgent agent;
  final List<String> commands = new CopyOnWriteArrayList<>();
  volatile int failExit;

  @BeforeEach
  void startAgent() throws Exception {
    socket = dir.resolve("agent.sock");
    Path netns = dir.resolve("netns");
    Files.createFile(netns);
    CommandRunner fake =
        (ns, argv, stdin) -> {
          commands.add(ns + ": " + String.join(" ", argv));
          return new CommandRunner.Result(failExit, "", failExit == 0 ? "" : "iptables: no chain");
        };
    agent =
        NodeAgent.start(
            socket,
            () -> AgentTestSupport.snapshot("default/enrolled-pod", "default/plain-pod"),
            new InpodRedirect(fake));
  }

  @AfterEach
  void stopAgent() throws Exception {
    agent.close();
  }

  record Run(int exit, String stdout, String stderr) {}

  Run run(Map<String, String> env, String stdin) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int rc =
        CniPlugin.run(
            env,
            new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)),
            new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8));
    return new Run(rc, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  Map<String, String> env(String command, String pod) {
    Map<String, String> env = new HashMap<>();
    env.put("CNI_COMMAND", command);
    env.put("CNI_CONTAINERID", "c0ffee");
    env.put("CNI_NETNS", dir.resolve("netns").toString());
    env.put("CNI_IFNAME", "eth0");
    env.put("CNI_PATH", "/opt/cni/bin");
    if (pod != null) {
      env.put(
          "CNI_ARGS",
          "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=" + pod
              + ";K8S_POD_INFRA_CONTAINER_ID=c0ffee;K8S_POD_UID=uid-" + pod);
    }
    return env;
  }

  String config(String extra, boolean withPrev) {
    return "{\"cniVersion\":\"1.0.0\",\"name\":\"k8s-pod-network\",\"type\":\"ambientj-cni\","
        + "\"agentSocket\":\"" + socket + "\"" + extra
        + (withPrev ? ",\"prevResult\":" + PREV : "") + "}";
  }

  @Test
  void versionListsSupportedVersions() {
    Run r = run(Map.of("CNI_COMMAND", "VERSION"), "{\"cniVersion\":\"1.0.0\"}");
    assertThat(r.exit()).isZero();
    assertThat(r.stdout())
        .isEqualTo("{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\"]}");
  }

  @Test
  void addOfAnEnrolledPodInstallsTheRedirectionAndPassesPrevResultThrough() {
    Run r = run(env("ADD", "enrolled-pod"), config("", true));
    assertThat(r.exit()).as(r.stdout()).isZero();
    assertThat(r.stdout()).isEqualTo(PREV);
    assertThat(commands).anyMatch(c -> c.endsWith("iptables-restore --noflush"));
    assertThat(commands).allMatch(c -> c.startsWith(dir.resolve("netns") + ": "));
  }

  @Test
  void addOfAPodThatIsNotEnrolledIsAPassThrough() {
    Run r = run(env("ADD", "plain-pod"), config("", true));
    assertThat(r.exit()).isZero();
    assertThat(r.stdout()).isEqualTo(PREV);
    assertThat(commands).isEmpty();
  }

  @Test
  void addWithoutPrevResultPrintsAnEmptyResult() {
    Run r = run(env("ADD", "plain-pod"), config("", false).replace("1.0.0", "0.4.0"));
    assertThat(r.stdout()).isEqualTo("{\"cniVersion\":\"0.4.0\"}");
  }

  @Test
  void addOutsideKubernetesDoesNotAskTheAgent() throws Exception {
    agent.close();
    Run r = run(env("ADD", null), config("", true));
    assertThat(r.exit()).isZero();
    assertThat(r.stdout()).isEqualTo(PREV);
  }

  @Test
  void addWhenTheAgentIsAbsentFailsClosedByDefault() throws Exception {
    agent.close();
    Run r = run(env("ADD", "enrolled-pod"), config("", true));
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.stdout())
        .startsWith("{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"ADD pod default/enrolled-pod: node agent socket ")
        .contains("does not exist \\u2014 is the ambientj cni-agent running on this node? (failOpen is false)");
  }

  @Test
  void addWhenTheAgentIsAbsentPassesThroughWhenFailOpen() throws Exception {
    agent.close();
    Run r = run(env("ADD", "enrolled-pod"), config(",\"failOpen\":true", true));
    assertThat(r.exit()).isZero();
    assertThat(r.stdout()).isEqualTo(PREV);
    assertThat(r.stderr()).contains("failOpen is true");
  }

  @Test
  void addFailsWithTheAgentsReasonWhenRulesCannotBeInstalled() {
    failExit = 1;
    Run r = run(env("ADD", "enrolled-pod"), config("", true));
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.stdout())
        .startsWith("{\"cniVersion\":\"1.0.0\",\"code\":100,\"msg\":\"node agent could not enroll pod default/enrolled-pod: iptables-save in netns ")
        .endsWith("exited 1: iptables: no chain\"}");
  }

  @Test
  void malformedJsonIsADecodeError() {
    Run r = run(env("ADD", "enrolled-pod"), "{\"cniVersion\":\"1.0.0\",");
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.stdout())
        .isEqualTo("{\"cniVersion\":\"1.0.0\",\"code\":6,\"msg\":\"network configuration on stdin is not valid JSON: expected a member name in double quotes at offset 22\"}");
  }

  @Test
  void invalidFieldsNameTheFieldAndWhatWasExpected() {
    assertThat(run(env("ADD", "p"), config(",\"failOpen\":\"yes\"", false)).stdout())
        .isEqualTo("{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"failOpen: \\\"yes\\\" (expected: true or false)\"}");
    assertThat(run(env("ADD", "p"), "{\"cniVersion\":\"1.0.0\"}").stdout()).contains("\"code\":7", "name: missing");
    assertThat(run(env("ADD", "p"), config(",\"agentTimeoutMs\":0", false)).stdout()).contains("agentTimeoutMs: 0");
  }

  @Test
  void unsupportedVersionIsCode1() {
    Run r = run(env("ADD", "p"), "{\"cniVersion\":\"2.0.0\",\"name\":\"n\"}");
    assertThat(r.stdout()).contains("\"code\":1,", "cniVersion \\\"2.0.0\\\" is not supported");
  }

  @Test
  void unknownOrMissingCommandIsCode4() {
    assertThat(run(env("GC", "p"), config("", false)).stdout())
        .contains("\"code\":4,", "CNI_COMMAND \\\"GC\\\" is not supported");
    assertThat(run(Map.of(), "").stdout()).contains("\"code\":4,", "CNI_COMMAND is not set");
  }

  @Test
  void missingEnvironmentIsCode4NamingTheVariables() {
    Map<String, String> env = env("ADD", "p");
    env.remove("CNI_NETNS");
    env.remove("CNI_IFNAME");
    Run r = run(env, config("", false));
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.stdout()).contains("\"code\":4,", "ADD needs CNI_NETNS, CNI_IFNAME to be set");
    Map<String, String> badArgs = env("ADD", "p");
    badArgs.put("CNI_ARGS", "K8S_POD_NAME");
    assertThat(run(badArgs, config("", false)).stdout()).contains("\"code\":4,", "CNI_ARGS");
  }

  @Test
  void delIsIdempotentAndSilent() throws Exception {
    Run first = run(env("DEL", "enrolled-pod"), config("", true));
    assertThat(first.exit()).isZero();
    assertThat(first.stdout()).isEmpty();
    assertThat(commands).anyMatch(c -> c.endsWith("iptables-save"));
    Map<String, String> gone = env("DEL", "enrolled-pod");
    gone.remove("CNI_NETNS");
    assertThat(run(gone, config("", false)).exit()).isZero();
    agent.close();
    Run noAgent = run(env("DEL", "enrolled-pod"), config("", false));
    assertThat(noAgent.exit()).isZero();
    assertThat(noAgent.stdout()).isEmpty();
  }

  @Test
  void checkReportsMissingRules() {
    Run r = run(env("CHECK", "enrolled-pod"), config("", true));
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.stdout()).contains("\"code\":100,", "is enrolled but its netns", "lacks: mangle: -A PREROUTING");
    assertThat(run(env("CHECK", "plain-pod"), config("", true)).exit()).isZero();
    assertThat(run(env("CHECK", "plain-pod"), config("", true).replace("1.0.0", "0.3.1")).stdout())
        .contains("\"code\":1,", "CHECK needs cniVersion 0.4.0");
  }
}
