package dev.ambientj.config.analyze;

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

  @Override
  public String toString() {
    String where = field.isEmpty() ? object : object + ": " + field;
    return level.label() + " [" + code + "] " + where + ": " + message;
  }
}
