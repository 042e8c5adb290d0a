package dev.ambientj.config.analyze;

import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.util.Map;

/** How findings name objects, and what the checks read of objects of any form. */
final class Refs {
  private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

  private Refs() {}

  /** {@code Kind namespace/name}, or {@code Kind name} for a Namespace or Node. */
  static String ref(HasMetadata o) {
    String ns = o.getMetadata() == null ? null : o.getMetadata().getNamespace();
    String kind = o.getKind();
    if ("Namespace".equals(kind) || "Node".equals(kind)) {
      return kind + " " + o.getMetadata().getName();
    }
    return kind
        + " "
        + (ns == null || ns.isEmpty() ? "default" : ns)
        + "/"
        + o.getMetadata().getName();
  }

  /** The object's namespace, {@code default} when it has none. */
  static String nsOf(HasMetadata o) {
    String ns = o.getMetadata().getNamespace();
    return ns == null || ns.isEmpty() ? "default" : ns;
  }

  static Map<String, String> labelsOf(HasMetadata o) {
    return o.getMetadata() == null || o.getMetadata().getLabels() == null
        ? Map.of() : o.getMetadata().getLabels();
  }

  /**
   * The object as a tree, whatever its form: typed (from a file, any served version) or generic
   * (from the Kubernetes API). For the few fields the snapshot does not keep.
   */
  static JsonNode tree(HasMetadata o) {
    return SERIALIZATION.convertValue(o, JsonNode.class);
  }
}
