package dev.ambientj.config.kubernetes;

import dev.ambientj.config.kubernetes.KubernetesConfigSource.WatchedResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.MixedOperation;
import io.fabric8.kubernetes.client.dsl.Resource;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;

/** Writes objects into Fabric8's mock API server (CRUD mode) as {@code kubectl apply} would. */
public final class MockCluster {
  private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

  private MockCluster() {}

  /**
   * Creates {@code o} as the API server would store it, served at the watched version: Istio's
   * v1beta1/v1alpha3 and the Gateway API's v1beta1 share their v1 schema, and a real API server
   * converts between served versions (the mock server does not).
   *
   * @throws AssertionError when the kind is not one the Kubernetes source watches
   */
  public static void create(KubernetesClient client, HasMetadata o) {
    GenericKubernetesResource g = SERIALIZATION.convertValue(o, GenericKubernetesResource.class);
    WatchedResource r = watched(g);
    g.setApiVersion(r.apiVersion());
    var op = resources(client, r);
    if (r.namespaced()) {
      String ns = g.getMetadata().getNamespace() == null ? "default" : g.getMetadata().getNamespace();
      g.getMetadata().setNamespace(ns);
      op.inNamespace(ns).resource(g).create();
    } else {
      op.resource(g).create();
    }
  }

  /** Whether the Kubernetes source lists objects of this kind and API group. */
  public static boolean isWatched(HasMetadata o) {
    return find(o) != null;
  }

  static WatchedResource watched(HasMetadata o) {
    WatchedResource r = find(o);
    if (r == null) {
      throw new AssertionError("not watched: " + o.getKind() + " " + o.getApiVersion());
    }
    return r;
  }

  private static WatchedResource find(HasMetadata o) {
    String api = o.getApiVersion();
    String group = api.contains("/") ? api.substring(0, api.indexOf('/')) : "";
    return KubernetesConfigSource.WATCHED.stream()
        .filter(r -> r.kind().equals(o.getKind()) && r.group().equals(group))
        .findFirst()
        .orElse(null);
  }

  static MixedOperation<GenericKubernetesResource, ?, Resource<GenericKubernetesResource>>
      resources(KubernetesClient client, WatchedResource r) {
    return client.genericKubernetesResources(
        new ResourceDefinitionContext.Builder()
            .withGroup(r.group())
            .withVersion(r.version())
            .withKind(r.kind())
            .withPlural(r.plural())
            .withNamespaced(r.namespaced())
            .build());
  }
}
