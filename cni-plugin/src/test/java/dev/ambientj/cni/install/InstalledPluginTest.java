package dev.ambientj.cni.install;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.cni.agent.AgentTestSupport;
import dev.ambientj.cni.agent.NodeAgent;
import dev.ambientj.cni.redirect.CommandRunner;
import dev.ambientj.cni.redirect.InpodRedirect;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a node without Java sees: the payload built as the image build does (jlink, AOT training),
 * installed by the agent's installer into a bin directory, then the installed {@code ambientj-cni}
 * run as the container runtime runs it — empty environment but the CNI variables, a PATH with no
 * {@code java} on it — against a real node agent.
 */
class InstalledPluginTest {
  static final String NAME = PluginPayloadBuilder.EXECUTABLE;
  static final String PREV =
      "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"/var/run/netns/p\"}],"
          + "\"ips\":[{\"address\":\"10.250.0.2/24\",\"interface\":0}]}";

  @TempDir static Path built;
  static Path payload;

  @TempDir Path bin;
  @TempDir Path dir;
  Path path;
  Path socket;
  NodeAgent agent;
  final List<String> commands = new CopyOnWriteArrayList<>();

  @BeforeAll
  static void buildPayload() throws IOException {
    long start = System.nanoTime();
    payload = PluginPayloadBuilder.build(built.resolve("payload"), Path.of("src/main/sh", NAME), true);
    System.out.printf("payload built in %d ms: %d MiB (runtime %d MiB, AOT cache %d MiB)%n",
        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start),
        PluginPayloadBuilder.sizeOf(payload) >> 20,
        PluginPayloadBuilder.sizeOf(payload.resolve(NAME + ".d/runtime")) >> 20,
        Files.size(payload.resolve(NAME + ".d/" + PluginPayloadBuilder.AOT_CACHE)) >> 20);
  }

  @BeforeEach
  void startAgentAndPath() throws IOException {
    socket = dir.resolve("agent.sock");
    CommandRunner recording =
        (ns, argv, stdin) -> {
          commands.add(ns + ": " + String.join(" ", argv));
          return new CommandRunner.Result(0, "", "");
        };
    agent = NodeAgent.start(socket,
        () -> AgentTestSupport.snapshot("default/enrolled-pod", "default/plain-pod"),
        new InpodRedirect(recording));
    // What the script itself calls, and nothing else: no java to fall back on.
    path = Files.createDirectories(dir.resolve("path"));
    for (String tool : List.of("dirname", "readlink")) {
      Path wrapper = Files.writeString(path.resolve(tool), "#!/bin/sh\nexec /usr/bin/" + tool + " \"$@\"\n");
      Files.setPosixFilePermissions(wrapper, PosixFilePermissions.fromString("rwxr-xr-x"));
    }
    Files.createFile(dir.resolve("netns"));
  }

  @AfterEach
  void stopAgent() throws Exception {
    agent.close();
  }

  @Test
  void theInstalledPluginRunsWithoutJavaOnTheNode() throws Exception {
    PluginPayloadInstaller.of(payload, NAME).install(bin);

    Run version = run(Map.of("CNI_COMMAND", "VERSION"), "{\"cniVersion\":\"1.0.0\"}");
    assertThat(version.exit()).as(version.stderr()).isZero();
    assertThat(version.stdout())
        .isEqualTo("{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\"]}");

    Run plain = run(add("plain-pod"), config());
    assertThat(plain.exit()).as(plain.stderr()).isZero();
    assertThat(plain.stdout()).isEqualTo(PREV);
    assertThat(commands).isEmpty();

    Run enrolled = run(add("enrolled-pod"), config());
    assertThat(enrolled.exit()).as(enrolled.stderr()).isZero();
    assertThat(enrolled.stdout()).isEqualTo(PREV);
    assertThat(commands).contains(dir.resolve("netns") + ": iptables-restore --noflush");
    assertThat(enrolled.stderr()).as("JVM warnings, e.g. an AOT cache that does not match").isEmpty();
  }

  @Test
  void theRuntimeHoldsOnlyJavaBaseAndTheAotCacheMatchesIt() throws Exception {
    PluginPayloadInstaller.of(payload, NAME).install(bin);

    assertThat(Files.readAllLines(bin.resolve(NAME + ".d/runtime/release")))
        .contains("MODULES=\"java.base\"");
    Map<String, String> env = new HashMap<>(Map.of("CNI_COMMAND", "VERSION"));
    env.put("JDK_JAVA_OPTIONS", "-XX:AOTMode=on"); // exits instead of running without the cache
    Run r = run(env, "{\"cniVersion\":\"1.0.0\"}");
    assertThat(r.exit()).as(r.stderr()).isZero();
    assertThat(r.stdout()).contains("supportedVersions");
  }

  @Test
  void anUpgradeSwitchesToTheNewPayloadWholeAndTheSameOneWritesNothing() throws Exception {
    PluginPayloadInstaller.Result first = PluginPayloadInstaller.of(payload, NAME).install(bin);
    assertThat(PluginPayloadInstaller.of(payload, NAME).install(bin).written()).isFalse();

    Path next = dir.resolve("next");
    copyTree(payload, next);
    Files.writeString(next.resolve(NAME + ".d/release-note"), "v2\n");
    PluginPayloadInstaller.Result second = PluginPayloadInstaller.of(next, NAME).install(bin);

    assertThat(second.written()).isTrue();
    assertThat(bin.resolve(NAME + ".d").toRealPath()).isEqualTo(second.version().toRealPath());
    assertThat(first.version()).isDirectory();
    Run plain = run(add("plain-pod"), config());
    assertThat(plain.exit()).as(plain.stderr()).isZero();
    assertThat(plain.stdout()).isEqualTo(PREV);
  }

  record Run(int exit, String stdout, String stderr) {}

  Map<String, String> add(String pod) {
    Map<String, String> env = new HashMap<>();
    env.put("CNI_COMMAND", "ADD");
    env.put("CNI_CONTAINERID", "c0ffee");
    env.put("CNI_NETNS", dir.resolve("netns").toString());
    env.put("CNI_IFNAME", "eth0");
    env.put("CNI_PATH", bin.toString());
    env.put("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=" + pod
        + ";K8S_POD_INFRA_CONTAINER_ID=c0ffee;K8S_POD_UID=uid-" + pod);
    return env;
  }

  String config() {
    return "{\"cniVersion\":\"1.0.0\",\"name\":\"k8s-pod-network\",\"type\":\"ambientj-cni\","
        + "\"agentSocket\":\"" + socket + "\",\"prevResult\":" + PREV + "}";
  }

  /** The installed executable with only {@code env} and PATH (as {@code env -i}). */
  Run run(Map<String, String> env, String stdin) throws Exception {
    ProcessBuilder pb = new ProcessBuilder(bin.resolve(NAME).toString());
    pb.environment().clear();
    pb.environment().putAll(env);
    pb.environment().put("PATH", path.toString());
    Path err = Files.createTempFile(dir, "stderr", ".txt");
    pb.redirectError(err.toFile());
    Process p = pb.start();
    try (OutputStream in = p.getOutputStream()) {
      in.write(stdin.getBytes(StandardCharsets.UTF_8));
    }
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("plugin exited").isTrue();
    String stderr = Files.readString(err).lines()
        .filter(l -> !l.startsWith("NOTE: Picked up JDK_JAVA_OPTIONS")).reduce("", (a, b) -> a + b + "\n");
    return new Run(p.exitValue(), out, stderr);
  }

  static void copyTree(Path from, Path to) throws IOException {
    try (Stream<Path> walk = Files.walk(from)) {
      for (Path p : walk.toList()) {
        Files.copy(p, to.resolve(from.relativize(p).toString()),
            StandardCopyOption.COPY_ATTRIBUTES, LinkOption.NOFOLLOW_LINKS);
      }
    }
  }
}
