package dev.ambientj.config.model;

import java.util.Objects;

/**
 * An object the translator refused; the rest of the configuration still applies.
 *
 * <p>{@link #toString()} is the operator-facing line: {@code Kind namespace/name: field.path:
 * problem}. The namespace part is omitted for cluster-scoped objects ({@code Node node-a: ...}).
 *
 * @param field the path of the offending field, e.g. {@code spec.http[0].route[1].weight}
 * @param problem what is wrong and what was expected, e.g. {@code -5 (expected 0..100)}
 */
public record ConfigRejection(
    String kind, String namespace, String name, String field, String problem) {
  public ConfigRejection {
    kind = kind == null || kind.isEmpty() ? "Object" : kind;
    namespace = namespace == null ? "" : namespace;
    name = name == null || name.isEmpty() ? "<unnamed>" : name;
    field = field == null ? "" : field;
    Objects.requireNonNull(problem, "problem");
  }

  /** {@code Kind namespace/name} (or {@code Kind name} when cluster-scoped). */
  public String objectRef() {
    return namespace.isEmpty() ? kind + " " + name : kind + " " + namespace + "/" + name;
  }

  @Override
  public String toString() {
    return field.isEmpty()
        ? objectRef() + ": " + problem
        : objectRef() + ": " + field + ": " + problem;
  }
}
