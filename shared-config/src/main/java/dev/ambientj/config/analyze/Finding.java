package dev.ambientj.config.analyze;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * One line of {@code mesh analyze} output, in istioctl's shape: {@code Error [IST0101]
 * VirtualService production/payment-service: spec.http[0]...: message}.
 *
 * @param code istioctl's code where one fits (IST01xx), else ambientj's own (AMB0xxx)
 * @param object {@code Kind namespace/name}, or a file position for malformed YAML
 * @param field the field path, or empty
 */
public record Finding(Level level, String code, String object, String field, String message) {
  /** Severity; only {@link #WARNING} and {@link #ERROR} make {@code mesh analyze} exit 1. */
  public enum Level {
    INFO("Info"),
    WARNING("Warning"),
    ERROR("Error");

    private final String label;

    Level(String label) {
      this.label = label;
    }

    public String label() {
      return label;
    }
  }

  public Finding {
    Objects.requireNonNull(level, "level");
    Objects.requireNonNull(code, "code");
    Objects.requireNonNull(object, "object");
    field = field == null ? "" : field;
    Objects.requireNonNull(message, "message");
  }

  public boolean isProblem() {
    return level != Level.INFO;
  }

  /** The object's kind; empty when the finding is about a file position. */
  public String kind() {
    int space = kindEnd();
    return space < 0 ? "" : object.substring(0, space);
  }

  /** The object's namespace; empty when cluster-scoped or about a file. */
  public String namespace() {
    int space = kindEnd();
    int slash = space < 0 ? -1 : object.indexOf('/', space + 1);
    return slash < 0 ? "" : object.substring(space + 1, slash);
  }

  /** The object's name; empty when the finding is about a file position. */
  public String name() {
    int space = kindEnd();
    if (space < 0) {
      return "";
    }
    int slash = object.indexOf('/', space + 1);
    return object.substring(slash < 0 ? space + 1 : slash + 1);
  }

  /** Where {@code Kind} ends in {@code Kind namespace/name}; -1 for a file position. */
  private int kindEnd() {
    int space = object.indexOf(' ');
    return space > 0 && KIND.matcher(object.substring(0, space)).matches() ? space : -1;
  }

  private static final java.util.regex.Pattern KIND =
      java.util.regex.Pattern.compile("[A-Z][A-Za-z0-9]*");

  /** istioctl's page for the code ({@code IST0101}), or empty for ambientj's own codes. */
  public String documentationUrl() {
    return code.startsWith("IST")
        ? "https://istio.io/latest/docs/reference/config/analysis/"
            + code.toLowerCase(java.util.Locale.ROOT) + "/"
        : "";
  }

  /** The finding as the fields of {@code mesh analyze -o json|yaml}, in a stable order. */
  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("code", code);
    m.put("level", level.label());
    m.put("origin", object);
    m.put("kind", kind());
    m.put("namespace", namespace());
    m.put("name", name());
    m.put("field", field);
    m.put("message", message);
    m.put("documentationUrl", documentationUrl());
    return m;
  }

  @Override
  public String toString() {
    String where = field.isEmpty() ? object : object + ": " + field;
    return level.label() + " [" + code + "] " + where + ": " + message;
  }
}
