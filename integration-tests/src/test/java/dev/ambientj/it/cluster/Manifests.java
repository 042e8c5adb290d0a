package dev.ambientj.it.cluster;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code daemonset-manifests/} as a user applies it: rendered by {@code kubectl kustomize} (the
 * kustomize built into kubectl, what {@code kubectl apply -k} runs), then read into Fabric8 objects.
 */
final class Manifests {
  private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

  private Manifests() {}

  /** The repository's {@code daemonset-manifests/}, found from the working directory upwards. */
  static Path directory() {
    Path p = Path.of("").toAbsolutePath();
    while (p != null && !Files.isDirectory(p.resolve("daemonset-manifests"))) {
      p = p.getParent();
    }
    if (p == null) {
      throw new IllegalStateException("no daemonset-manifests/ above " + Path.of("").toAbsolutePath());
    }
    return p.resolve("daemonset-manifests");
  }

  /** {@code kubectl kustomize DIR}, parsed; in the order kustomize prints them. */
  static List<HasMetadata> render(Path dir) throws IOException {
    return parse(Sh.run("kubectl", "kustomize", dir.toString()));
  }

  /** Multi-document YAML into objects (every document must be a Kubernetes object). */
  static List<HasMetadata> parse(String yaml) {
    List<HasMetadata> objects = new ArrayList<>();
    for (String doc : yaml.split("(?m)^---\\s*$")) {
      if (doc.lines().anyMatch(l -> !l.isBlank() && !l.strip().startsWith("#"))) {
        Object o = SERIALIZATION.unmarshal(doc);
        if (!(o instanceof HasMetadata h)) {
          throw new IllegalArgumentException("not a Kubernetes object: " + doc);
        }
        objects.add(h);
      }
    }
    return objects;
  }
}
