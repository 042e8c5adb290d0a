package dev.ambientj.it.cluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * One run of one container, as a container runtime makes it: its own mount namespace whose root is
 * a directory laid out from the image ({@link Images.Image}) and the pod's volume mounts, entered
 * with {@code chroot}; the pod's network namespace (or the node's for {@code hostNetwork}); the
 * user, group and exactly the capabilities of its {@code securityContext} ({@code setpriv}: bounding
 * set = the runtime's default set with {@code add}/{@code drop} applied, or every capability when
 * {@code privileged}; {@code no_new_privs} when {@code allowPrivilegeEscalation: false}); its
 * environment and nothing else; stdout and stderr appended to its log file.
 *
 * <p>The process chain (nsenter, unshare, sh, chroot, setpriv, the command) execs in place, so the
 * process this class holds is the container's main process: SIGTERM reaches it directly.
 */
final class ContainerRun {
  /** containerd's default capability set for a container that is not privileged. */
  static final List<String> DEFAULT_CAPABILITIES = List.of("CHOWN", "DAC_OVERRIDE", "FSETID",
      "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE",
      "SYS_CHROOT", "KILL", "AUDIT_WRITE");

  /** A mount: a path of this machine at a path in the container. */
  record Mount(Path source, String target, boolean readOnly, boolean recursive) {}

  /** Who the process runs as and with what privileges. */
  record Security(long uid, long gid, boolean privileged, Set<String> capabilities,
      boolean noNewPrivileges, boolean readOnlyRoot) {
    String describe() {
      return "uid " + uid + " gid " + gid + (privileged ? ", privileged"
          : ", capabilities " + capabilities) + (noNewPrivileges ? ", no_new_privs" : "")
          + (readOnlyRoot ? ", read-only root" : "");
    }
  }

  final String name;
  final Path log;
  final Instant started;
  private final Process process;

  private ContainerRun(String name, Path log, Process process) {
    this.name = name;
    this.log = log;
    this.process = process;
    this.started = Instant.now();
  }

  /**
   * Lays out {@code rootfs} and starts {@code command} in it.
   *
   * @param netns network namespace name under /run/netns
   */
  static ContainerRun start(String name, Path rootfs, Images.Image image, List<Mount> mounts,
      Map<String, String> env, Security security, String netns, List<String> command, Path log)
      throws IOException {
    AtomicVolume.deleteTree(rootfs);
    Files.createDirectories(rootfs);
    List<String> script = new ArrayList<>(List.of("set -e", "R='" + rootfs + "'",
        "/usr/bin/mount --bind \"$R\" \"$R\""));
    for (String link : List.of("bin", "sbin", "lib", "lib64")) {
      Files.createSymbolicLink(rootfs.resolve(link), Path.of("usr", link));
    }
    Files.createDirectories(rootfs.resolve("usr"));
    if (image.binaries() == null) {
      bind(script, rootfs, Path.of("/usr"), "/usr", true, false);
    } else {
      for (String dir : List.of("lib", "lib64", "libexec", "share")) {
        if (Files.isDirectory(Path.of("/usr", dir))) {
          bind(script, rootfs, Path.of("/usr", dir), "/usr/" + dir, true, false);
        }
      }
      for (String binary : image.binaries()) {
        Path host = Path.of(binary).toRealPath();
        String inside = binary.startsWith("/bin/") || binary.startsWith("/sbin/") ? "/usr" + binary : binary;
        bind(script, rootfs, host, inside, true, false);
      }
    }
    bind(script, rootfs, Path.of("/etc"), "/etc", true, false);
    bind(script, rootfs, Path.of("/proc"), "/proc", false, true);
    bind(script, rootfs, Path.of("/dev"), "/dev", false, true);
    bind(script, rootfs, Path.of("/sys"), "/sys", false, true);
    bind(script, rootfs, Path.of("/usr/bin/setpriv"), "/.kubelet/setpriv", true, false);
    if (image.app() != null) {
      bind(script, rootfs, image.app(), "/app", true, false);
    }
    if (image.javaHome() != null) {
      bind(script, rootfs, image.javaHome(), Images.JAVA_HOME, true, false);
    }
    for (Mount m : mounts) {
      bind(script, rootfs, m.source(), m.target(), m.readOnly(), m.recursive());
    }
    for (String d : List.of("tmp", "run", "var/run", "var/tmp", "root")) {
      Files.createDirectories(rootfs.resolve(d));
    }
    if (security.readOnlyRoot()) {
      script.add("/usr/bin/mount -o remount,bind,ro \"$R\"");
    }
    List<String> setpriv = new ArrayList<>(List.of("/.kubelet/setpriv", "--reuid=" + security.uid(),
        "--regid=" + security.gid(), "--clear-groups"));
    if (!security.privileged()) {
      StringBuilder caps = new StringBuilder("-all");
      for (String c : security.capabilities()) {
        caps.append(",+").append(c.toLowerCase(Locale.ROOT));
      }
      setpriv.add("--bounding-set=" + caps);
      setpriv.add("--inh-caps=-all");
      setpriv.add("--ambient-caps=-all");
    }
    if (security.noNewPrivileges()) {
      setpriv.add("--no-new-privs");
    }
    setpriv.add("--");
    script.add("cd \"$R\"");
    script.add("exec /usr/sbin/chroot \"$R\" " + String.join(" ", setpriv) + " \"$@\"");
    Path wrapper = rootfs.getParent().resolve("start-" + name + ".sh");
    Files.writeString(wrapper, String.join("\n", script) + "\n");
    List<String> cmd = new ArrayList<>(List.of("/usr/bin/nsenter", "--net=/run/netns/" + netns,
        "/usr/bin/unshare", "--mount", "--propagation", "slave", "/bin/sh", wrapper.toString()));
    cmd.addAll(command);
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    pb.environment().clear();
    pb.environment().putAll(env);
    Files.writeString(log, "--- harness: starting " + name + " " + command + " as " + security.describe()
        + " at " + Instant.now() + "\n", StandardCharsets.UTF_8,
        java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
    return new ContainerRun(name, log, pb.start());
  }

  private static void bind(List<String> script, Path rootfs, Path source, String target, boolean readOnly,
      boolean recursive) throws IOException {
    Path at = rootfs.resolve(target.substring(1));
    if (Files.isDirectory(source)) {
      Files.createDirectories(at);
    } else {
      Files.createDirectories(at.getParent());
      if (!Files.exists(at)) {
        Files.createFile(at);
      }
    }
    script.add("/usr/bin/mount " + (recursive ? "--rbind" : "--bind") + " '" + source + "' '" + at + "'");
    if (readOnly) {
      script.add("/usr/bin/mount -o remount,bind,ro '" + at + "'");
    }
  }

  /** The runtime's capabilities with the container's {@code add}/{@code drop} applied. */
  static Set<String> capabilities(List<String> add, List<String> drop) {
    Set<String> caps = new LinkedHashSet<>(DEFAULT_CAPABILITIES);
    for (String d : drop) {
      if (d.equalsIgnoreCase("ALL")) {
        caps.clear();
      } else {
        caps.remove(strip(d));
      }
    }
    for (String a : add) {
      caps.add(strip(a));
    }
    return caps;
  }

  private static String strip(String cap) {
    String c = cap.toUpperCase(Locale.ROOT);
    return c.startsWith("CAP_") ? c.substring(4) : c;
  }

  long pid() {
    return process.pid();
  }

  boolean alive() {
    return process.isAlive();
  }

  /** The exit code, or null while it runs. */
  Integer exitCode() {
    return process.isAlive() ? null : process.exitValue();
  }

  /**
   * Stops it as the kubelet does: SIGTERM, then SIGKILL once {@code grace} has passed. Returns
   * how long it took to exit and how.
   */
  String terminate(Duration grace) {
    if (!process.isAlive()) {
      return "already exited " + process.exitValue();
    }
    long t0 = System.nanoTime();
    process.destroy(); // SIGTERM
    try {
      if (process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
        return "exited " + process.exitValue() + " " + (System.nanoTime() - t0) / 1_000_000 + " ms after SIGTERM";
      }
      process.destroyForcibly(); // SIGKILL
      process.waitFor(10, TimeUnit.SECONDS);
      return "SIGKILL after the grace period of " + grace.toSeconds() + " s";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      process.destroyForcibly();
      return "SIGKILL (interrupted)";
    }
  }

  /** The last {@code lines} lines of its log. */
  String tail(int lines) {
    try {
      List<String> all = Files.readAllLines(log, StandardCharsets.UTF_8);
      return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    } catch (IOException e) {
      return "(no log: " + e.getMessage() + ")";
    }
  }
}
