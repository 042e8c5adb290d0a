package dev.ambientj.config.authz;

import java.util.Locale;

/**
 * One AuthorizationPolicy string value: {@code *} (any non-empty value), {@code prefix*}, {@code
 * *suffix}, or exact; optionally case-insensitive (hosts). The one matcher of both proxies'
 * policies. Immutable; {@link #matches} allocates nothing for case-sensitive values.
 */
record StringMatcher(Kind kind, String value, boolean ignoreCase) {
  enum Kind { ANY, PREFIX, SUFFIX, EXACT }

  static StringMatcher parse(String v, boolean ignoreCase) {
    String p = ignoreCase ? v.toLowerCase(Locale.ROOT) : v;
    if (p.equals("*")) {
      return new StringMatcher(Kind.ANY, "", ignoreCase);
    }
    if (p.endsWith("*")) {
      return new StringMatcher(Kind.PREFIX, p.substring(0, p.length() - 1), ignoreCase);
    }
    if (p.startsWith("*")) {
      return new StringMatcher(Kind.SUFFIX, p.substring(1), ignoreCase);
    }
    return new StringMatcher(Kind.EXACT, p, ignoreCase);
  }

  /** Null (attribute absent) never matches, not even {@code *}. */
  boolean matches(String s) {
    if (s == null) {
      return false;
    }
    return switch (kind) {
      case ANY -> !s.isEmpty();
      case PREFIX -> s.regionMatches(ignoreCase, 0, value, 0, value.length());
      case SUFFIX -> s.length() >= value.length()
          && s.regionMatches(ignoreCase, s.length() - value.length(), value, 0, value.length());
      case EXACT -> ignoreCase ? s.equalsIgnoreCase(value) : s.equals(value);
    };
  }
}
