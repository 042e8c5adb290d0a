package dev.ambientj.config.model;

import java.util.Objects;

/**
 * A configuration the mesh refused: an object that failed validation, a document that could not be
 * parsed, a file that held nothing usable, or an xDS resource a proxy NACKed. What was in force
 * before stays in force ({@link #previousInForce()}); the rest of the configuration still applies.
 *
 * <p>{@link #toString()} is the operator-facing text every component prints the same way (proxies'
 * logs and {@code /config_dump}, the config server's log, {@code mesh analyze}): {@code
 * [location: ]Kind namespace/name: field.path: problem}. The namespace part is omitted for
 * cluster-scoped objects ({@code Node node-a: ...}); the object part is omitted when a problem is
 * not about one object (an empty file: {@code mesh.yaml: empty ...}). {@link #report()} adds what
 * happened to it.
 *
 * @param field the path of the offending field, e.g. {@code spec.http[0].route[1].weight}
 * @param problem what is wrong and what was expected, e.g. {@code -5 (expected 0..100)}
 * @param location where it was read, e.g. {@code policies.yaml:12:5}, or empty
 * @param previousInForce whether an earlier accepted version stays in force in its place (else the
 *     object, being new, is not applied at all)
 */
public record ConfigRejection(
    String kind,
    String namespace,
    String name,
    String field,
    String problem,
    String location,
    boolean previousInForce) {
  public ConfigRejection {
    location = location == null ? "" : location;
    boolean aboutAnObject = (kind != null && !kind.isEmpty()) || (name != null && !name.isEmpty());
    kind = kind == null || kind.isEmpty() ? (aboutAnObject || location.isEmpty() ? "Object" : "")
        : kind;
    namespace = namespace == null ? "" : namespace;
    name = name == null || name.isEmpty()
        ? (aboutAnObject || location.isEmpty() ? "<unnamed>" : "") : name;
    field = field == null ? "" : field;
    Objects.requireNonNull(problem, "problem");
  }

  /** An object refused by validation; nothing known to be in force in its place. */
  public ConfigRejection(String kind, String namespace, String name, String field, String problem) {
    this(kind, namespace, name, field, problem, "", false);
  }

  /** This rejection with the earlier accepted version kept in force instead. */
  public ConfigRejection keepingPrevious() {
    return new ConfigRejection(kind, namespace, name, field, problem, location, true);
  }

  /** {@code Kind namespace/name} (or {@code Kind name} when cluster-scoped); empty for a file. */
  public String objectRef() {
    if (kind.isEmpty() && name.isEmpty()) {
      return "";
    }
    return namespace.isEmpty() ? kind + " " + name : kind + " " + namespace + "/" + name;
  }

  /** The kind for metrics: the object's kind, or {@code File} for a file-level problem. */
  public String metricKind() {
    return kind.isEmpty() ? "File" : kind;
  }

  /** The whole operator line: {@link #toString()} and what stays in force. */
  public String report() {
    return this + (previousInForce ? " (rejected; keeping the version in force)"
        : " (rejected; not applied)");
  }

  @Override
  public String toString() {
    StringBuilder b = new StringBuilder();
    if (!location.isEmpty()) {
      b.append(location).append(": ");
    }
    String ref = objectRef();
    if (!ref.isEmpty()) {
      b.append(ref).append(": ");
    }
    if (!field.isEmpty()) {
      b.append(field).append(": ");
    }
    return b.append(problem).toString();
  }
}
