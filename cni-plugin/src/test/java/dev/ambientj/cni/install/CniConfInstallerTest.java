package dev.ambientj.cni.install;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambientj.cni.plugin.JsonCodec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CniConfInstallerTest {
  private static final String PLUGIN = "ambientj-cni";

  /**
   * containerd's bridge + portmap list as a kind/containerd node has it (tabs, nested ipam and
   * capabilities), plus values that must survive re-serialisation: escapes, non-ASCII, number
   * spellings, null, empty containers.
   */
  private static final String CONTAINERD_NET =
      """
      {
      \t"cniVersion": "1.0.0",
      \t"name": "containerd-net",
      \t"plugins": [
      \t\t{
      \t\t\t"type": "bridge",
      \t\t\t"bridge": "cni0",
      \t\t\t"isGateway": true,
      \t\t\t"ipMasq": true,
      \t\t\t"promiscMode": false,
      \t\t\t"mtu": 1450,
      \t\t\t"ipam": {
      \t\t\t\t"type": "host-local",
      \t\t\t\t"ranges": [
      \t\t\t\t\t[{"subnet": "10.244.0.0/24", "gateway": "10.244.0.1"}],
      \t\t\t\t\t[{"subnet": "fd00:10:244::/64"}]
      \t\t\t\t],
      \t\t\t\t"routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}],
      \t\t\t\t"dataDir": "/run/cni-ipam-state"
      \t\t\t}
      \t\t},
      \t\t{
      \t\t\t"type": "portmap",
      \t\t\t"capabilities": {"portMappings": true},
      \t\t\t"snat": false,
      \t\t\t"conditionsV4": null,
      \t\t\t"markMasqBit": 13,
      \t\t\t"weight": -0.25, "ratio": 1.5e3, "big": 12345678901234567890,
      \t\t\t"comment": "tab\\there \\"quoted\\" back\\\\slash \\/ caf\\u00e9 \u00fcber \\ud83d\\ude00",
      \t\t\t"empty": {}, "none": []
      \t\t}
      \t]
      }
      """;

  @TempDir Path tmp;
  private Path netDir;
  private Path binDir;

  @BeforeEach
  void dirs() throws IOException {
    netDir = Files.createDirectories(tmp.resolve("etc/cni/net.d"));
    binDir = Files.createDirectories(tmp.resolve("opt/cni/bin"));
  }

  private static Map<String, Object> ourConfig() {
    Map<String, Object> c = new LinkedHashMap<>();
    c.put("agentSocket", "/var/run/ambientj/cni-agent.sock");
    c.put("failOpen", false);
    c.put("agentTimeoutMs", 30000);
    return c;
  }

  private static Map<String, Object> parse(Path file) throws Exception {
    return JsonCodec.decodeObject(Files.readString(file));
  }

  @SuppressWarnings("unchecked")
  private static List<Object> plugins(Map<String, Object> conf) {
    return (List<Object>) conf.get("plugins");
  }

  private List<String> netDirNames() throws IOException {
    try (Stream<Path> s = Files.list(netDir)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  @Test
  void appendsOurEntryAtTheEndAndKeepsEveryOtherValue() throws Exception {
    Path conf = Files.writeString(netDir.resolve("10-containerd-net.conflist"), CONTAINERD_NET);
    Map<String, Object> before = parse(conf);

    CniConfInstaller.Change change =
        CniConfInstaller.install(netDir, binDir, null, PLUGIN, ourConfig());

    assertThat(change).isEqualTo(new CniConfInstaller.Change(conf, true));
    Map<String, Object> after = parse(conf);
    List<Object> plugins = plugins(after);
    assertThat(plugins).hasSize(3);
    assertThat(plugins.subList(0, 2)).isEqualTo(plugins(before));
    assertThat(JsonCodec.encode(plugins.get(2)))
        .isEqualTo(
            """
            {
              "type": "ambientj-cni",
              "agentSocket": "/var/run/ambientj/cni-agent.sock",
              "failOpen": false,
              "agentTimeoutMs": 30000
            }""");
    after.remove("plugins");
    before.remove("plugins");
    assertThat(after).isEqualTo(before);
    assertThat(after.keySet()).containsExactly("cniVersion", "name");

    @SuppressWarnings("unchecked")
    Map<String, Object> portmap = (Map<String, Object>) plugins.get(1);
    assertThat(portmap.get("comment"))
        .isEqualTo("tab\there \"quoted\" back\\slash / café über \uD83D\uDE00");
    assertThat(portmap.get("conditionsV4")).isSameAs(JsonCodec.NULL);
    String text = Files.readString(conf);
    assertThat(text).contains("\"ratio\": 1.5e3", "\"weight\": -0.25", "12345678901234567890");
    assertThat(netDirNames()).as("no temporary file left").containsExactly(conf.getFileName().toString());
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(conf)))
        .as("the original file's mode").isEqualTo(PosixFilePermissions.toString(
            Files.getPosixFilePermissions(Files.writeString(tmp.resolve("probe"), ""))));
  }

  @Test
  void secondInstallChangesNothing() throws Exception {
    Path conf = Files.writeString(netDir.resolve("10-containerd-net.conflist"), CONTAINERD_NET);
    CniConfInstaller.install(netDir, binDir, null, PLUGIN, ourConfig());
    byte[] once = Files.readAllBytes(conf);
    FileTime old = FileTime.fromMillis(1_000_000_000_000L);
    Files.setLastModifiedTime(conf, old);

    // Map.of: another iteration order of the same members is still the same entry
    CniConfInstaller.Change change =
        CniConfInstaller.install(
            netDir, binDir, null, PLUGIN,
            Map.of("agentTimeoutMs", 30000, "failOpen", false,
                "agentSocket", "/var/run/ambientj/cni-agent.sock"));

    assertThat(change.written()).isFalse();
    assertThat(Files.readAllBytes(conf)).isEqualTo(once);
    assertThat(Files.getLastModifiedTime(conf)).isEqualTo(old);
  }

  @Test
  void aChangedSettingRewritesOurEntryInPlaceAndDropsDuplicates() throws Exception {
    Path conf = Files.writeString(netDir.resolve("10-containerd-net.conflist"), CONTAINERD_NET);
    CniConfInstaller.install(netDir, binDir, null, PLUGIN, ourConfig());
    // someone chained a plugin after ours and duplicated our entry
    Map<String, Object> edited = parse(conf);
    plugins(edited).add(Map.of("type", "bandwidth"));
    plugins(edited).add(Map.of("type", PLUGIN));
    Files.writeString(conf, JsonCodec.encode(edited));

    Map<String, Object> upgraded = ourConfig();
    upgraded.put("agentSocket", "/run/ambientj/agent.sock");
    CniConfInstaller.install(netDir, binDir, null, PLUGIN, upgraded);

    List<Object> plugins = plugins(parse(conf));
    assertThat(plugins.stream().<Object>map(p -> ((Map<?, ?>) p).get("type")).toList())
        .containsExactly("bridge", "portmap", PLUGIN, "bandwidth");
    assertThat(((Map<?, ?>) plugins.get(2)).get("agentSocket")).isEqualTo("/run/ambientj/agent.sock");
  }

  @Test
  void uninstallRestoresTheOriginalPluginList() throws Exception {
    Path conf = Files.writeString(netDir.resolve("10-containerd-net.conflist"), CONTAINERD_NET);
    Map<String, Object> original = parse(conf);
    CniConfInstaller.install(netDir, binDir, null, PLUGIN, ourConfig());

    CniConfInstaller.Change removed = CniConfInstaller.uninstall(netDir, PLUGIN);

    assertThat(removed).isEqualTo(new CniConfInstaller.Change(conf, true));
    assertThat(parse(conf)).isEqualTo(original);
    byte[] bytes = Files.readAllBytes(conf);
    assertThat(CniConfInstaller.uninstall(netDir, PLUGIN).written()).as("nothing left to remove").isFalse();
    assertThat(Files.readAllBytes(conf)).isEqualTo(bytes);
    assertThat(netDirNames()).containsExactly(conf.getFileName().toString());
  }

  @Test
  void aSinglePluginConfIsConvertedIntoAConflist() throws Exception {
    String single =
        """
        {
          "cniVersion": "0.4.0",
          "name": "mynet",
          "type": "bridge",
          "bridge": "cni0",
          "isGateway": true,
          "ipam": {"type": "host-local", "subnet": "10.22.0.0/16", "routes": [{"dst": "0.0.0.0/0"}]}
        }
        """;
    Path conf = Files.writeString(netDir.resolve("10-mynet.conf"), single);
    Files.writeString(netDir.resolve("99-loopback.conf"), "{\"cniVersion\":\"0.4.0\",\"type\":\"loopback\"}");

    CniConfInstaller.Change change =
        CniConfInstaller.install(netDir, binDir, null, PLUGIN, ourConfig());

    Path list = netDir.resolve("10-mynet.conflist");
    assertThat(change).isEqualTo(new CniConfInstaller.Change(list, true));
    assertThat(conf).doesNotExist();
    assertThat(netDirNames()).containsExactly("10-mynet.conflist", "99-loopback.conf");
    Map<String, Object> converted = parse(list);
    assertThat(converted.keySet()).containsExactly("cniVersion", "name", "plugins");
    assertThat(converted.get("cniVersion")).isEqualTo("0.4.0");
    assertThat(converted.get("name")).isEqualTo("mynet");
    assertThat(plugins(converted).get(0)).as("the original plugin, whole")
        .isEqualTo(JsonCodec.decodeObject(single));
    assertThat(((Map<?, ?>) plugins(converted).get(1)).get("type")).isEqualTo(PLUGIN);

    byte[] once = Files.readAllBytes(list);
    assertThat(CniConfInstaller.install(netDir, binDir, null, PLUGIN, ourConfig()).written()).isFalse();
    assertThat(Files.readAllBytes(list)).isEqualTo(once);

    CniConfInstaller.uninstall(netDir, PLUGIN);
    assertThat(plugins(parse(list))).containsExactly(JsonCodec.decodeObject(single));
  }

  @Test
  void usesTheFileTheRuntimeWouldPick() throws Exception {
    Path primary = Files.writeString(netDir.resolve("10-a.conflist"), CONTAINERD_NET);
    Path later = Files.writeString(netDir.resolve("20-b.conflist"), CONTAINERD_NET);
    Files.writeString(netDir.resolve("05-notes.txt"), "not a config");
    Files.writeString(netDir.resolve(".10-a.conflist.123.tmp"), "{half");
    Files.createDirectory(netDir.resolve("00-dir.conflist"));

    assertThat(CniConfInstaller.install(netDir, binDir, null, PLUGIN, ourConfig()).file())
        .isEqualTo(primary);

    assertThat(plugins(parse(primary))).hasSize(3);
    assertThat(Files.readString(later)).isEqualTo(CONTAINERD_NET);
  }

  @Test
  void errorsNameTheFile() throws Exception {
    assertThatThrownBy(() -> CniConfInstaller.install(netDir, binDir, null, PLUGIN, ourConfig()))
        .isInstanceOf(CniConfException.class)
        .hasMessageStartingWith(netDir + ": no CNI network configuration");
    Path missing = tmp.resolve("nowhere");
    assertThatThrownBy(() -> CniConfInstaller.uninstall(missing, PLUGIN))
        .isInstanceOf(CniConfException.class)
        .hasMessageStartingWith(missing + ": no such directory");

    Path bad = Files.writeString(netDir.resolve("10-bad.conflist"), "{\"cniVersion\": \"1.0.0\",}");
    assertThatThrownBy(() -> CniConfInstaller.install(netDir, binDir, null, PLUGIN, ourConfig()))
        .isInstanceOf(CniConfException.class)
        .hasMessageStartingWith(bad + ": not a valid JSON object: ")
        .hasMessageContaining("at offset")
        .extracting(e -> ((CniConfException) e).file()).isEqualTo(bad);
    assertThat(Files.readString(bad)).isEqualTo("{\"cniVersion\": \"1.0.0\",}");

    Files.writeString(bad, "{\"cniVersion\": \"1.0.0\", \"name\": \"x\", \"type\": \"bridge\"}");
    assertThatThrownBy(() -> CniConfInstaller.install(netDir, binDir, null, PLUGIN, ourConfig()))
        .isInstanceOf(CniConfException.class)
        .hasMessageStartingWith(bad + ": plugins: missing (expected: the array");
    Files.writeString(bad, "{\"cniVersion\": \"1.0.0\", \"name\": \"x\", \"plugins\": {}}");
    assertThatThrownBy(() -> CniConfInstaller.uninstall(netDir, PLUGIN))
        .isInstanceOf(CniConfException.class)
        .hasMessageStartingWith(bad + ": plugins: {} (expected: the array");
    Files.delete(bad);

    Path listInConf = Files.writeString(netDir.resolve("10-x.conf"), "{\"name\": \"x\", \"plugins\": []}");
    assertThatThrownBy(() -> CniConfInstaller.install(netDir, binDir, null, PLUGIN, ourConfig()))
        .isInstanceOf(CniConfException.class)
        .hasMessageStartingWith(listInConf + ": type: missing (expected: a single plugin's");

    Files.writeString(listInConf, "{\"name\": \"x\", \"type\": \"bridge\"}");
    Path taken = Files.writeString(netDir.resolve("10-x.conflist"), "{\"plugins\": []}");
    assertThatThrownBy(() -> CniConfInstaller.install(netDir, binDir, null, PLUGIN, ourConfig()))
        .isInstanceOf(CniConfException.class)
        .hasMessage(listInConf + ": cannot convert it into a .conflist: 10-x.conflist already exists");
    assertThat(Files.readString(taken)).isEqualTo("{\"plugins\": []}");
  }

  @Test
  void copiesTheExecutableAtomicallyWithMode0755() throws Exception {
    Files.writeString(netDir.resolve("10-containerd-net.conflist"), CONTAINERD_NET);
    Path source = Files.writeString(tmp.resolve("ambientj-cni"), "#!/bin/sh\necho new\n");
    Files.setPosixFilePermissions(source, PosixFilePermissions.fromString("rw-------"));
    Path installed = Files.writeString(binDir.resolve(PLUGIN), "#!/bin/sh\necho old\n");

    CniConfInstaller.install(netDir, binDir, source, PLUGIN, ourConfig());

    assertThat(installed).hasContent("#!/bin/sh\necho new\n");
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(installed)))
        .isEqualTo("rwxr-xr-x");
    assertThat(Files.isExecutable(installed)).isTrue();
    try (Stream<Path> s = Files.list(binDir)) {
      assertThat(s.map(p -> p.getFileName().toString())).containsExactly(PLUGIN);
    }

    FileTime old = FileTime.fromMillis(1_000_000_000_000L);
    Files.setLastModifiedTime(installed, old);
    CniConfInstaller.install(netDir, binDir, source, PLUGIN, ourConfig());
    assertThat(Files.getLastModifiedTime(installed)).as("same bytes: not copied again").isEqualTo(old);

    Path gone = tmp.resolve("no-such-plugin");
    assertThatThrownBy(() -> CniConfInstaller.install(netDir, binDir, gone, PLUGIN, ourConfig()))
        .isInstanceOf(CniConfException.class)
        .hasMessageStartingWith(gone + ": no such file");
  }

  @Test
  void refusesValuesJsonCannotHoldBeforeTouchingAnything() throws Exception {
    Path conf = Files.writeString(netDir.resolve("10-containerd-net.conflist"), CONTAINERD_NET);
    Map<String, Object> config = ourConfig();
    config.put("ratio", Double.NaN);

    assertThatThrownBy(() -> CniConfInstaller.install(netDir, binDir, null, PLUGIN, config))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("NaN");
    assertThatThrownBy(
            () -> CniConfInstaller.install(netDir, binDir, null, PLUGIN, Map.of("type", "other")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("pluginConfig.type");
    assertThat(Files.readString(conf)).isEqualTo(CONTAINERD_NET);
  }
}
