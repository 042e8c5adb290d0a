package dev.ambientj.config.xds;

import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.core.v3.Node;

/**
 * Who is on the other end of an xDS stream, from its {@code Node} (ISTIO-FACTS §6): {@code
 * ztunnel~<ip>~<pod>.<ns>~<ns>.svc.cluster.local} and the metadata {@code NODE_NAME}.
 *
 * @param type the part before the first {@code ~} ({@code ztunnel}, {@code waypoint}, …)
 * @param podName the pod name of the id's third part, or empty
 * @param podNamespace the pod namespace of the id's third part, or empty
 * @param nodeName metadata {@code NODE_NAME}, or empty
 */
public record ProxyNode(String id, String type, String ip, String podName, String podNamespace,
    String nodeName) {

  public static ProxyNode of(Node node) {
    String id = node.getId();
    String[] parts = id.split("~", -1);
    String type = parts.length > 1 ? parts[0] : "";
    String ip = parts.length > 1 ? parts[1] : "";
    String pod = "";
    String ns = "";
    if (parts.length > 2) {
      int dot = parts[2].lastIndexOf('.');
      pod = dot < 0 ? parts[2] : parts[2].substring(0, dot);
      ns = dot < 0 ? "" : parts[2].substring(dot + 1);
    }
    Value v = node.getMetadata().getFieldsMap().get("NODE_NAME");
    String nodeName = v != null && v.hasStringValue() ? v.getStringValue() : "";
    return new ProxyNode(id, type, ip, pod, ns, nodeName);
  }

  /** Builds the Node a proxy of {@code type} sends. */
  public static Node node(String type, String ip, String podName, String podNamespace,
      String nodeName) {
    Node.Builder b = Node.newBuilder().setId(type + "~" + ip + "~" + podName + "." + podNamespace
        + "~" + podNamespace + ".svc.cluster.local");
    var md = com.google.protobuf.Struct.newBuilder();
    md.putFields("NAME", Value.newBuilder().setStringValue(podName).build());
    md.putFields("NAMESPACE", Value.newBuilder().setStringValue(podNamespace).build());
    md.putFields("INSTANCE_IPS", Value.newBuilder().setStringValue(ip).build());
    if (!nodeName.isEmpty()) {
      md.putFields("NODE_NAME", Value.newBuilder().setStringValue(nodeName).build());
    }
    return b.setMetadata(md).build();
  }
}
