package dev.ambientj.it.netns;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Runs a CNI chain the way a container runtime does, one plugin after the other: the reference
 * {@code bridge} plugin (with {@code host-local} IPAM) inside the node's namespace, then ours —
 * the real executable, a JVM started per call — with the bridge's result as {@code prevResult}.
 */
final class Cni {
  static final Path REFERENCE_PLUGINS = Path.of("/usr/lib/cni");

  private final String network;
  private final Path pluginScript;
  private final Path ipamDir;

  Cni(String network, Path workDir) throws Exception {
    this.network = network;
    this.ipamDir = workDir.resolve("ipam");
    this.pluginScript = workDir.resolve("ambientj-cni");
    String java = ProcessHandle.current().info().command().orElse("java");
    String jar = Path.of(dev.ambientj.cni.plugin.CniPlugin.class.getProtectionDomain()
        .getCodeSource().getLocation().toURI()).toString();
    Files.writeString(pluginScript, "#!/bin/sh\nexec " + java
        + " -Xshare:auto -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp " + jar
        + " dev.ambientj.cni.plugin.CniPlugin\n");
    pluginScript.toFile().setExecutable(true);
  }

  /** The bridge config for a pod on {@code node} with exactly {@code ip} from {@code subnet}. */
  String bridgeConfig(String subnet, String gateway, String ip) {
    return """
        {"cniVersion":"1.0.0","name":"%s","type":"bridge","bridge":"cni0","isGateway":true,
         "ipMasq":false,"ipam":{"type":"host-local","dataDir":"%s",
         "ranges":[[{"subnet":"%s","rangeStart":"%s","rangeEnd":"%s","gateway":"%s"}]],
         "routes":[{"dst":"0.0.0.0/0"}]}}
        """.formatted(network, ipamDir, subnet, ip, ip, gateway);
  }

  Host.Result bridge(String command, String nodeNs, String podNetns, String containerId,
      String config) throws Exception {
    return Host.run(List.of("ip", "netns", "exec", nodeNs,
            REFERENCE_PLUGINS.resolve("bridge").toString()),
        env(command, podNetns, containerId, ""), config);
  }

  /** Our plugin, chained after the bridge ({@code prevResult} = the bridge's output). */
  Host.Result ambientj(String command, String podNetns, String containerId, Path agentSocket,
      String prevResult, String namespace, String pod, String uid) throws Exception {
    String config = "{\"cniVersion\":\"1.0.0\",\"name\":\"" + network
        + "\",\"type\":\"ambientj-cni\",\"agentSocket\":\"" + agentSocket + "\""
        + (prevResult == null || prevResult.isBlank() ? "" : ",\"prevResult\":" + prevResult.strip())
        + "}";
    return Host.run(List.of(pluginScript.toString()), env(command, podNetns, containerId,
        "K8S_POD_NAMESPACE=" + namespace + ";K8S_POD_NAME=" + pod + ";K8S_POD_UID=" + uid), config);
  }

  private static Map<String, String> env(String command, String podNetns, String containerId,
      String args) {
    return Map.of("CNI_COMMAND", command, "CNI_CONTAINERID", containerId,
        "CNI_NETNS", podNetns, "CNI_IFNAME", "eth0", "CNI_PATH", REFERENCE_PLUGINS.toString(),
        "CNI_ARGS", args);
  }
}
