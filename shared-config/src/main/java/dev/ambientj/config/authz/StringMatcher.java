package dev.ambientj.config.authz;

/**
 * One Istio AuthorizationPolicy string value: {@code *} (any non-empty value), {@code prefix*},
 * {@code *suffix}, or exact. Immutable; {@link #matches} is allocation-free.
 */
record StringMatcher(Kind kind, String value) {
  enum Kind { ANY, PREFIX, SUFFIX, EXACT }

  static StringMatcher parse(String v) {
    if (v.equals("*")) {
      return new StringMatcher(Kind.ANY, "");
    }
    if (v.endsWith("*")) {
      return new StringMatcher(Kind.PREFIX, v.substring(0, v.length() - 1));
    }
    if (v.startsWith("*")) {
      return new StringMatcher(Kind.SUFFIX, v.substring(1));
    }
    return new StringMatcher(Kind.EXACT, v);
  }

  /** Null (attribute absent) never matches, not even {@code *}. */
  boolean matches(String s) {
    if (s == null) {
      return false;
    }
    return switch (kind) {
      case ANY -> !s.isEmpty();
      case PREFIX -> s.startsWith(value);
      case SUFFIX -> s.endsWith(value);
      case EXACT -> s.equals(value);
    };
  }
}
