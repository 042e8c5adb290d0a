package dev.ambientj.ztunnel.telemetry;

/** Minimal JSON string writing for log lines and admin output (no dependency, no reflection). */
public final class Json {
  private Json() {}

  /** Appends {@code "name":"value"} (with a leading comma unless {@code first}); skips a null value. */
  static void field(StringBuilder b, String name, String value, boolean first) {
    if (value == null) {
      return;
    }
    if (!first) {
      b.append(',');
    }
    string(b, name);
    b.append(':');
    string(b, value);
  }

  /** Appends {@code value} as a quoted JSON string. */
  public static StringBuilder string(StringBuilder b, String value) {
    b.append('"');
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        default -> {
          if (c < 0x20) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    return b.append('"');
  }

  /** {@code value} as a quoted JSON string, or {@code null}. */
  public static String quote(String value) {
    return value == null ? "null" : string(new StringBuilder(value.length() + 2), value).toString();
  }
}
