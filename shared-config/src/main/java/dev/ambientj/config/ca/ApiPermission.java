package dev.ambientj.config.ca;

import java.util.Set;

/**
 * One Kubernetes API permission the CA's cluster mode uses (group {@code ""} is core); the
 * manifests in {@code daemonset-manifests/} must grant each (a test checks).
 */
public record ApiPermission(String group, String resource, Set<String> verbs) {
  public ApiPermission {
    verbs = Set.copyOf(verbs);
  }
}
