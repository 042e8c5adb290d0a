package dev.ambientj.config.model;

import java.util.Objects;

/**
 * Something in an accepted object that was ignored, reported rather than refused: an unknown field
 * in a kind whose unknown fields do not weaken security (every kind but AuthorizationPolicy and
 * PeerAuthentication, where an unknown field rejects the object).
 *
 * <p>{@link #toString()}: {@code Kind namespace/name: field.path: problem}.
 */
public record ConfigWarning(String kind, String namespace, String name, String field,
    String problem) {
  public ConfigWarning {
    Objects.requireNonNull(kind, "kind");
    namespace = namespace == null ? "" : namespace;
    name = name == null ? "<unnamed>" : name;
    field = field == null ? "" : field;
    Objects.requireNonNull(problem, "problem");
  }

  @Override
  public String toString() {
    String ref = namespace.isEmpty() ? kind + " " + name : kind + " " + namespace + "/" + name;
    return field.isEmpty() ? ref + ": " + problem : ref + ": " + field + ": " + problem;
  }
}
