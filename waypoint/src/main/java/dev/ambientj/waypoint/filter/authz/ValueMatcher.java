package dev.ambientj.waypoint.filter.authz;

import java.util.Locale;

/**
 * Istio's string match in AuthorizationPolicy values: {@code *} (any non-empty value),
 * {@code prefix*}, {@code *suffix}, or exact.
 */
record ValueMatcher(int kind, String value, boolean ignoreCase) {
  private static final int ANY = 0;
  private static final int EXACT = 1;
  private static final int PREFIX = 2;
  private static final int SUFFIX = 3;

  static ValueMatcher of(String pattern, boolean ignoreCase) {
    String p = ignoreCase ? pattern.toLowerCase(Locale.ROOT) : pattern;
    if (p.equals("*")) {
      return new ValueMatcher(ANY, "", ignoreCase);
    }
    if (p.endsWith("*")) {
      return new ValueMatcher(PREFIX, p.substring(0, p.length() - 1), ignoreCase);
    }
    if (p.startsWith("*")) {
      return new ValueMatcher(SUFFIX, p.substring(1), ignoreCase);
    }
    return new ValueMatcher(EXACT, p, ignoreCase);
  }

  boolean matches(String v) {
    if (v == null) {
      return false;
    }
    String s = ignoreCase ? v.toLowerCase(Locale.ROOT) : v;
    return switch (kind) {
      case ANY -> !s.isEmpty();
      case PREFIX -> s.startsWith(value);
      case SUFFIX -> s.endsWith(value);
      default -> s.equals(value);
    };
  }
}
