package dev.ambientj.config.server.waypoint;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.xpath.XPathConstants;
import javax.xml.xpath.XPathFactory;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.NodeList;

/**
 * The CNI plugin reaches the node through the agent alone: the image carries the plugin's payload
 * (launcher's {@code image} profile) where the agent's {@code --cni-plugin-payload} reads it, and
 * nothing else in the DaemonSet writes the node's CNI bin directory.
 */
class CniPluginPayloadManifestTest {
  private static Path root;
  private static PodSpec spec;

  @BeforeAll
  static void load() throws Exception {
    Path p = Path.of("").toAbsolutePath();
    while (p != null && !Files.isDirectory(p.resolve("daemonset-manifests"))) {
      p = p.getParent();
    }
    assertThat(p).as("a parent folder holding daemonset-manifests/").isNotNull();
    root = p;
    String yaml = Files.readString(root.resolve("daemonset-manifests/cni-node-agent.yaml"));
    DaemonSet ds = null;
    for (String doc : yaml.split("(?m)^---\\s*$")) {
      if (doc.contains("kind: DaemonSet")) {
        ds = new KubernetesSerialization().unmarshal(doc, DaemonSet.class);
      }
    }
    assertThat(ds).as("the DaemonSet in cni-node-agent.yaml").isNotNull();
    spec = ds.getSpec().getTemplate().getSpec();
  }

  @Test
  void theAgentInstallsThePayloadFromTheImageAndNothingElseWritesTheBinDirectory() {
    assertThat(spec.getInitContainers()).isEmpty();
    assertThat(spec.getContainers()).hasSize(1);
    Container agent = spec.getContainers().get(0);
    List<String> args = agent.getArgs();
    assertThat(args).contains("--cni-plugin-payload").doesNotContain("--cni-plugin");
    String binMount = agent.getVolumeMounts().stream().filter(m -> m.getName().equals("cni-bin"))
        .map(VolumeMount::getMountPath).findFirst().orElseThrow();
    assertThat(args.get(args.indexOf("--cni-bin-dir") + 1)).isEqualTo(binMount);
    assertThat(args.get(args.indexOf("--cni-plugin-payload") + 1)).isEqualTo("/app/cni");
  }

  @Test
  void theImageCarriesThePayloadWhereTheAgentReadsIt() throws Exception {
    Document pom = DocumentBuilderFactory.newInstance().newDocumentBuilder()
        .parse(root.resolve("launcher/pom.xml").toFile());
    var xpath = XPathFactory.newInstance().newXPath();
    String payloadDir = spec.getContainers().get(0).getArgs()
        .get(spec.getContainers().get(0).getArgs().indexOf("--cni-plugin-payload") + 1);
    NodeList from = (NodeList) xpath.evaluate(
        "//profile[id='image']//extraDirectories/paths/path[into='" + payloadDir + "']/from",
        pom, XPathConstants.NODESET);
    assertThat(from.getLength()).as("a Jib extra directory into %s", payloadDir).isEqualTo(1);
    String built = from.item(0).getTextContent().strip();
    NodeList builder = (NodeList) xpath.evaluate(
        "//profile[id='image']//execution[id='cni-plugin-payload']//arguments/argument",
        pom, XPathConstants.NODESET);
    assertThat(builder.getLength()).as("the payload builder's execution").isGreaterThan(2);
    assertThat(builder.item(1).getTextContent().strip())
        .isEqualTo("dev.ambientj.cni.install.PluginPayloadBuilder");
    assertThat(builder.item(2).getTextContent().strip()).as("where it builds").isEqualTo(built);
  }
}
