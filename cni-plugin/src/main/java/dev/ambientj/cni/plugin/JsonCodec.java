package dev.ambientj.cni.plugin;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.List;
import java.util.Map;

/**
 * The plugin's JSON reader ({@link Json}) and a writer, for node-side code outside this package
 * (the CNI config installer). The plugin itself does not use this class, so its start-up path is
 * unchanged.
 *
 * <p>Value model, both ways: objects {@code Map<String,?>} (the reader's keep insertion order),
 * arrays {@code List<?>}, strings, {@code Boolean}, numbers, and {@link #NULL} for JSON null. The
 * reader's numbers are an opaque type (not {@code java.lang.Number}) holding the text as written,
 * which the writer puts back unchanged ({@code 1.50e3} stays {@code 1.50e3}); the writer also takes
 * Java numbers and Java {@code null}. Strings are written in ASCII ({@code \\uXXXX} for the rest), so what round-trips
 * is each value, not the original bytes.
 */
public final class JsonCodec {
  /** JSON {@code null} as the reader returns it. */
  public static final Object NULL = Json.NULL;

  private JsonCodec() {}

  /** Thrown by {@link #decodeObject} for malformed input; the message names offset and cause. */
  public static final class MalformedJsonException extends Exception {
    private static final long serialVersionUID = 1L;

    MalformedJsonException(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /** Parses a document whose root must be an object (strict RFC 8259, see {@link Json}). */
  public static Map<String, Object> decodeObject(String text) throws MalformedJsonException {
    try {
      return Json.parseObject(text).root();
    } catch (Json.ParseException e) {
      throw new MalformedJsonException(e.getMessage(), e);
    }
  }

  /** True for JSON null in either form (the reader's {@link #NULL} or Java {@code null}). */
  public static boolean isNull(Object value) {
    return value == null || value == Json.NULL;
  }

  /**
   * Writes {@code value} indented by two spaces per level ({@code "key": value}, as Go's
   * {@code json.MarshalIndent(v, "", "  ")} does, the layout of most files in
   * {@code /etc/cni/net.d}), without a trailing newline.
   *
   * @throws IllegalArgumentException for a value outside the model above (names its type), a
   *     non-string map key or a non-finite floating-point number
   */
  public static String encode(Object value) {
    StringBuilder out = new StringBuilder(256);
    write(out, value, 0);
    return out.toString();
  }

  /**
   * True when {@code a} and {@code b} are the same JSON value: members compared regardless of
   * order, numbers by value ({@code 30000}, {@code 3e4} and {@code Integer 30000} are equal).
   */
  public static boolean sameValue(Object a, Object b) {
    if (isNull(a) || isNull(b)) {
      return isNull(a) && isNull(b);
    }
    if (a instanceof Map<?, ?> ma && b instanceof Map<?, ?> mb) {
      if (ma.size() != mb.size()) {
        return false;
      }
      for (Map.Entry<?, ?> e : ma.entrySet()) {
        if (!mb.containsKey(e.getKey()) || !sameValue(e.getValue(), mb.get(e.getKey()))) {
          return false;
        }
      }
      return true;
    }
    if (a instanceof List<?> la && b instanceof List<?> lb) {
      if (la.size() != lb.size()) {
        return false;
      }
      for (int i = 0; i < la.size(); i++) {
        if (!sameValue(la.get(i), lb.get(i))) {
          return false;
        }
      }
      return true;
    }
    BigDecimal na = number(a);
    BigDecimal nb = number(b);
    if (na != null || nb != null) {
      return na != null && nb != null && na.compareTo(nb) == 0;
    }
    return a.equals(b);
  }

  private static void write(StringBuilder out, Object value, int depth) {
    if (isNull(value)) {
      out.append("null");
    } else if (value instanceof String s) {
      Json.quote(out, s);
    } else if (value instanceof Boolean b) {
      out.append(b.booleanValue());
    } else if (value instanceof Map<?, ?> map) {
      if (map.isEmpty()) {
        out.append("{}");
        return;
      }
      out.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> e : map.entrySet()) {
        if (!(e.getKey() instanceof String key)) {
          throw new IllegalArgumentException(
              "JSON object keys must be strings, not " + typeOf(e.getKey()));
        }
        out.append(first ? "\n" : ",\n");
        first = false;
        indent(out, depth + 1);
        Json.quote(out, key).append(": ");
        write(out, e.getValue(), depth + 1);
      }
      out.append('\n');
      indent(out, depth);
      out.append('}');
    } else if (value instanceof List<?> list) {
      if (list.isEmpty()) {
        out.append("[]");
        return;
      }
      out.append('[');
      for (int i = 0; i < list.size(); i++) {
        out.append(i == 0 ? "\n" : ",\n");
        indent(out, depth + 1);
        write(out, list.get(i), depth + 1);
      }
      out.append('\n');
      indent(out, depth);
      out.append(']');
    } else {
      out.append(numberText(value));
    }
  }

  private static String numberText(Object value) {
    if (value instanceof Json.Num num) {
      return num.text();
    }
    if (value instanceof Integer || value instanceof Long || value instanceof Short
        || value instanceof Byte || value instanceof BigInteger) {
      return value.toString();
    }
    if (value instanceof BigDecimal d) {
      return d.toString(); // "1E+3" is valid JSON
    }
    if (value instanceof Double || value instanceof Float) {
      double d = ((Number) value).doubleValue();
      if (Double.isNaN(d) || Double.isInfinite(d)) {
        throw new IllegalArgumentException("JSON has no " + value + " (expected: a finite number)");
      }
      return value.toString(); // "1.0E21" is valid JSON
    }
    throw new IllegalArgumentException(
        "cannot write " + typeOf(value) + " as JSON (expected: Map, List, String, Boolean, a"
            + " number or null)");
  }

  /** The value of a JSON or Java number, or null for anything else. */
  private static BigDecimal number(Object value) {
    if (value instanceof Json.Num || value instanceof Number) {
      try {
        return new BigDecimal(numberText(value));
      } catch (IllegalArgumentException e) {
        return null;
      }
    }
    return null;
  }

  private static String typeOf(Object value) {
    return value == null ? "null" : value.getClass().getName();
  }

  private static void indent(StringBuilder out, int depth) {
    for (int i = 0; i < depth; i++) {
      out.append("  ");
    }
  }
}
