package dev.ambientj.it.cluster;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * One node: a network namespace on the underlay ({@code <net>.255.<index>}, its InternalIP), a pod
 * subnet {@code <net>.<index>.0/24} behind the bridge the cluster's CNI plugin makes, and a root
 * directory standing for its filesystem ({@link #hostPath}: what hostPath volumes and the CNI
 * runtime see). All nodes share the machine's kernel, so {@code /proc}, {@code /sys}, {@code /dev}
 * and {@code /run/netns} are the machine's own.
 */
final class SimNode {
  /** Where the reference CNI plugins are (Debian's containernetworking-plugins). */
  static final Path REFERENCE_PLUGINS = Path.of("/usr/lib/cni");
  /** The cluster's own CNI configuration, before any add-on chains itself in. */
  static final String PRIMARY_CONFLIST = "10-harness-bridge.conflist";

  final String name;
  final int index;
  final String netns;
  final String ip;
  final String podSubnetPrefix;
  final Path root;
  final Path logs;

  SimNode(String name, int index, String netns, String net, Path dir) throws IOException {
    this.name = name;
    this.index = index;
    this.netns = netns;
    this.ip = net + ".255." + index;
    this.podSubnetPrefix = net + "." + index;
    this.root = dir.resolve("root");
    this.logs = dir.resolve("logs");
    Files.createDirectories(logs);
    Files.createDirectories(hostPath("/etc/cni/net.d"));
    Files.createDirectories(hostPath("/opt/cni/bin"));
    Files.createDirectories(root.resolve("run/netns")); // the machine's /run/netns is mounted here
    Files.createDirectories(hostPath("/var/lib/cni/networks"));
    try (Stream<Path> plugins = Files.list(REFERENCE_PLUGINS)) {
      for (Path p : plugins.toList()) {
        Files.createSymbolicLink(hostPath("/opt/cni/bin").resolve(p.getFileName()), p);
      }
    }
    Files.writeString(hostPath("/etc/cni/net.d").resolve(PRIMARY_CONFLIST), """
        {
          "cniVersion": "1.0.0",
          "name": "harness-pods",
          "plugins": [
            {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false,
             "hairpinMode": true,
             "ipam": {"type": "host-local", "dataDir": "%s",
                      "ranges": [[{"subnet": "%s.0/24", "rangeStart": "%s.10",
                                   "gateway": "%s.1"}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}}
          ]
        }
        """.formatted(hostPath("/var/lib/cni/networks"), podSubnetPrefix, podSubnetPrefix,
        podSubnetPrefix));
  }

  /**
   * Where the node's path {@code path} lives on this machine: the machine's own {@code /proc},
   * {@code /sys}, {@code /dev} and network-namespace directory (one kernel for every node), else
   * under {@link #root} ({@code /var/run} is {@code /run}, as on a Debian node).
   */
  Path hostPath(String path) {
    String p = Path.of(path).normalize().toString();
    if (p.equals("/var/run") || p.startsWith("/var/run/")) {
      p = p.substring("/var".length());
    }
    if (p.equals("/run/netns") || p.startsWith("/run/netns/") || p.equals("/proc") || p.startsWith("/proc/")
        || p.equals("/sys") || p.startsWith("/sys/") || p.equals("/dev") || p.startsWith("/dev/")) {
      return Path.of(p);
    }
    return root.resolve(p.substring(1));
  }

  /** The conflist the container runtime uses: libcni's choice, the lexically first config file. */
  Path activeConflist() throws IOException {
    try (Stream<Path> files = Files.list(hostPath("/etc/cni/net.d"))) {
      return files.filter(f -> Files.isRegularFile(f)
              && Stream.of(".conflist", ".conf", ".json").anyMatch(f.getFileName().toString()::endsWith))
          .min(Comparator.comparing(f -> f.getFileName().toString()))
          .orElseThrow(() -> new IOException("node " + name + ": no CNI configuration in /etc/cni/net.d"));
    }
  }

  /**
   * Runs a CNI plugin executable as the node's container runtime does: in the node's network
   * namespace, its own {@code /run} (the agent's socket directory, the ZDS socket) in place, the
   * config on stdin.
   */
  Sh.Result runCniPlugin(Path executable, Map<String, String> env, String config) throws IOException {
    Path run = hostPath("/run");
    List<String> cmd = new ArrayList<>(List.of("nsenter", "--net=/run/netns/" + netns,
        "unshare", "--mount", "--propagation", "slave", "/bin/sh", "-c",
        "mount --rbind /run/netns '" + run + "/netns' && mount --rbind '" + run + "' /run && exec \"$0\"",
        executable.toString()));
    return Sh.exec(cmd, env, config);
  }

  @Override
  public String toString() {
    return name + " (" + ip + ")";
  }
}
