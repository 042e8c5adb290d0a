package dev.ambientj.cni.agent;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes {@value RedirectionAnnotator#ANNOTATION} on pods through the Kubernetes API (Fabric8).
 *
 * <p>Calls are queued to one thread, in order, so the agent never waits on the API server while
 * it holds a pod's lock or answers CNI; a failed write is logged and not retried (the annotation
 * is for people and tools, capture does not depend on it). A pod that is gone is not an error.
 * Closing stops the thread after the queued writes (bounded wait); the client stays the caller's.
 */
public final class KubernetesRedirectionAnnotator implements RedirectionAnnotator, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(KubernetesRedirectionAnnotator.class);

  private final KubernetesClient client;
  private final ExecutorService writer =
      Executors.newSingleThreadExecutor(Thread.ofPlatform().daemon().name("cni-agent-annotate").factory());

  public KubernetesRedirectionAnnotator(KubernetesClient client) {
    this.client = client;
  }

  @Override
  public void enabled(String namespace, String name) {
    submit(namespace, name, ENABLED);
  }

  @Override
  public void removed(String namespace, String name) {
    submit(namespace, name, null);
  }

  private void submit(String namespace, String name, String value) {
    try {
      writer.execute(() -> write(namespace, name, value));
    } catch (RejectedExecutionException e) {
      // closing
    }
  }

  private void write(String namespace, String name, String value) {
    var pod = client.pods().inNamespace(namespace).withName(name);
    try {
      Pod current = pod.get();
      if (current == null) {
        return;
      }
      Map<String, String> annotations = current.getMetadata().getAnnotations();
      String now = annotations == null ? null : annotations.get(ANNOTATION);
      if (value == null ? now == null : value.equals(now)) {
        return;
      }
      pod.edit(p -> {
        if (value == null) {
          if (p.getMetadata().getAnnotations() != null) {
            p.getMetadata().getAnnotations().remove(ANNOTATION);
          }
        } else {
          if (p.getMetadata().getAnnotations() == null) {
            p.getMetadata().setAnnotations(new java.util.LinkedHashMap<>());
          }
          p.getMetadata().getAnnotations().put(ANNOTATION, value);
        }
        return p;
      });
    } catch (KubernetesClientException e) {
      if (e.getCode() != 404) {
        log.warn("cni-agent: cannot {} {} on pod {}/{}: {}", value == null ? "remove" : "set",
            ANNOTATION, namespace, name, e.getMessage());
      }
    }
  }

  @Override
  public void close() {
    writer.shutdown();
    try {
      writer.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
