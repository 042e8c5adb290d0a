package dev.ambientj.it;

import dev.ambientj.hbone.identity.LocalCertificateAuthority;
import dev.ambientj.launcher.demo.Socks5Client;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@code ./mesh waypoint} as its own process — the same main class, this build's classes, and the
 * JVM flags {@code ./mesh} gives a waypoint ({@code launcher/src/main/sh/mesh-jvm-defaults}) — so
 * that a test can read its resident memory. Its output (the access log included) goes to a file.
 */
final class WaypointProcess implements AutoCloseable {
  private final Process process;
  private final Path log;
  private final String address;

  private WaypointProcess(Process process, Path log, String address) {
    this.process = process;
    this.log = log;
    this.address = address;
  }

  /**
   * The two-node mesh of {@code yaml} (ztunnels of node-a and node-b in this JVM) for a waypoint
   * process: the YAML is written to {@code stateDir/mesh.yaml} for it, and the ztunnels trust the
   * local CA of {@code stateDir} that the process reads.
   */
  static Mesh twoNodeMesh(String yaml, Path stateDir) throws IOException, InterruptedException {
    Files.writeString(stateDir.resolve("mesh.yaml"), yaml);
    LocalCertificateAuthority ca = LocalCertificateAuthority.loadOrCreate(stateDir, "cluster.local");
    Mesh mesh = Mesh.fromYaml(yaml);
    for (String node : List.of("node-a", "node-b")) {
      mesh.node(node).identities(ca.asIdentityProvider(Duration.ofHours(1))).ztunnel();
    }
    return mesh;
  }

  /**
   * Starts the waypoint {@code namespace/name} on {@code address} with {@code config} (watched) and
   * the local CA of {@code stateDir}, and waits until it serves HBONE.
   */
  static WaypointProcess start(Path config, Path stateDir, String namespace, String name, String address,
      List<String> extraArgs) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("--enable-native-access=ALL-UNNAMED");
    cmd.addAll(meshJvmDefaults());
    String opts = System.getProperty("it.waypoint.javaOpts", "").trim(); // like MESH_JAVA_OPTS: wins over the defaults
    if (!opts.isEmpty()) {
      cmd.addAll(List.of(opts.split("\\s+")));
    }
    cmd.add("-cp");
    cmd.add(System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")));
    cmd.add("dev.ambientj.launcher.Main");
    cmd.addAll(List.of("waypoint", "--config", config.toString(), "--name", name, "--namespace", namespace,
        "--state-dir", stateDir.toString(), "--address", address));
    cmd.addAll(extraArgs);
    Path log = Files.createTempFile(stateDir, "waypoint-", ".log");
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().put("MALLOC_ARENA_MAX", "2");
    WaypointProcess wp = new WaypointProcess(pb.start(), log, address);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (!wp.output().contains("serving HBONE")) {
      if (!wp.process.isAlive() || System.nanoTime() > deadline) {
        wp.close();
        throw new IllegalStateException("waypoint did not start; its output:\n" + wp.output());
      }
      TimeUnit.MILLISECONDS.sleep(100);
    }
    return wp;
  }

  /**
   * Waits (60 s at most) until a GET of {@code host:80} through the SOCKS5 port {@code socks}
   * succeeds: the first request through a waypoint process just started is slow on a loaded
   * machine (cold JIT, first TLS handshakes), and the tests' own requests keep their bounds.
   */
  static void awaitServing(InetSocketAddress socks, String host) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (true) {
      try {
        Socks5Client.httpGet(socks, host, 80, "/ready", Duration.ofSeconds(30));
        return;
      } catch (IOException e) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("no answer through " + socks + " to " + host + " within 60 s", e);
        }
        TimeUnit.MILLISECONDS.sleep(200);
      }
    }
  }

  /** The flags of {@code mesh-jvm-defaults} for a waypoint, read by the same shell ./mesh uses. */
  private static List<String> meshJvmDefaults() throws IOException, InterruptedException {
    Path file = null;
    for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
      Path candidate = dir.resolve("launcher/src/main/sh/mesh-jvm-defaults");
      if (Files.isRegularFile(candidate)) {
        file = candidate;
        break;
      }
    }
    if (file == null) {
      throw new IllegalStateException("launcher/src/main/sh/mesh-jvm-defaults not found");
    }
    // the file reads the subcommand from $1, as when ./mesh sources it
    Process sh = new ProcessBuilder("sh", "-c", "f=$1; set -- waypoint; . \"$f\"; echo $mesh_jvm_defaults", "sh",
        file.toString())
        .redirectErrorStream(true).start();
    String out = new String(sh.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    sh.waitFor(10, TimeUnit.SECONDS);
    return out.isEmpty() ? List.of() : List.of(out.split("\\s+"));
  }

  long pid() {
    return process.pid();
  }

  /** Resident set size in KiB ({@code VmRSS} of {@code /proc/<pid>/status}). */
  long rssKib() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid()), "status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    }
    throw new IOException("no VmRSS for pid " + pid());
  }

  /** Output of {@code jcmd <pid> <command>} (diagnostics for a failed test). */
  String jcmd(String... command) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString());
    cmd.add(Long.toString(pid()));
    cmd.addAll(List.of(command));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    p.waitFor(30, TimeUnit.SECONDS);
    return out;
  }

  /** Everything the process printed so far. */
  String output() throws IOException {
    return Files.readString(log, StandardCharsets.UTF_8);
  }

  /** The access-log lines (JSON) printed so far. */
  List<String> accessLog() throws IOException {
    return output().lines().filter(l -> l.contains("dev.ambientj.waypoint.access")).toList();
  }

  /** {@code /stats/prometheus} of its metrics port (15020). */
  String metrics() throws IOException, InterruptedException {
    try (HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()) {
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(
              URI.create("http://" + address + ":15020/stats/prometheus")).timeout(Duration.ofSeconds(10)).build(),
          HttpResponse.BodyHandlers.ofString());
      return r.body();
    }
  }

  @Override
  public void close() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(10, TimeUnit.SECONDS)) {
      process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
  }
}
