package dev.ambientj.config.model;

import java.util.Objects;

/**
 * An object that was accepted but has no effect in ambient mode, with the reason (e.g. a {@code
 * Sidecar}: ambient mode has no sidecar to scope).
 */
public record NotApplicable(String kind, String namespace, String name, String reason) {
  public NotApplicable {
    Objects.requireNonNull(kind, "kind");
    namespace = namespace == null ? "" : namespace;
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(reason, "reason");
  }

  public String objectRef() {
    return namespace.isEmpty() ? kind + " " + name : kind + " " + namespace + "/" + name;
  }
}
