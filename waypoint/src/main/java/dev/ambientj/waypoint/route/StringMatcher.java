package dev.ambientj.waypoint.route;

import java.util.Locale;
import java.util.Objects;
import com.google.re2j.Pattern;

/**
 * A compiled string match: exact, prefix, suffix, regex (RE2 syntax, full match, as Envoy's
 * {@code safe_regex}) or presence. Built once per snapshot; {@link #matches} allocates nothing.
 */
public final class StringMatcher {
  /** How a value is compared. */
  public enum Kind {
    EXACT,
    PREFIX,
    SUFFIX,
    REGEX,
    PRESENT,
    /** Gateway API PathPrefix: whole path segments ({@code /api} matches {@code /api/x}, not {@code /apix}). */
    PATH_PREFIX
  }

  private final Kind kind;
  private final String value;
  private final boolean ignoreCase;
  private final Pattern pattern;

  private StringMatcher(Kind kind, String value, boolean ignoreCase) {
    this.kind = Objects.requireNonNull(kind, "kind");
    this.value = value == null ? "" : value;
    this.ignoreCase = ignoreCase;
    this.pattern =
        kind == Kind.REGEX
            ? Pattern.compile(this.value, ignoreCase ? Pattern.CASE_INSENSITIVE : 0)
            : null;
  }

  public static StringMatcher exact(String v) {
    return new StringMatcher(Kind.EXACT, v, false);
  }

  public static StringMatcher prefix(String v) {
    return new StringMatcher(Kind.PREFIX, v, false);
  }

  public static StringMatcher suffix(String v) {
    return new StringMatcher(Kind.SUFFIX, v, false);
  }

  /**
   * A full-match regular expression, run by RE2/J: time linear in the input, whatever the pattern
   * (no catastrophic backtracking on a request's header or path).
   *
   * @throws com.google.re2j.PatternSyntaxException if {@code regex} does not compile
   */
  public static StringMatcher regex(String regex) {
    return new StringMatcher(Kind.REGEX, regex, false);
  }

  /** Gateway API {@code PathPrefix}: matches whole path elements; a trailing slash is ignored. */
  public static StringMatcher pathPrefix(String v) {
    String p = v == null || v.isEmpty() ? "/" : v;
    if (p.length() > 1 && p.endsWith("/")) {
      p = p.substring(0, p.length() - 1);
    }
    return new StringMatcher(Kind.PATH_PREFIX, p, false);
  }

  public static StringMatcher present() {
    return new StringMatcher(Kind.PRESENT, "", false);
  }

  /** The same match, ignoring letter case (VirtualService {@code ignoreUriCase}). */
  public StringMatcher ignoringCase() {
    return new StringMatcher(kind, value, true);
  }

  public Kind kind() {
    return kind;
  }

  public String value() {
    return value;
  }

  /** Whether {@code s} matches; a null (absent) value matches nothing. */
  public boolean matches(CharSequence s) {
    if (s == null) {
      return false;
    }
    return switch (kind) {
      case PRESENT -> true;
      case EXACT -> ignoreCase ? value.equalsIgnoreCase(s.toString()) : value.contentEquals(s);
      case PREFIX -> s.length() >= value.length() && regionMatches(s, 0);
      case PATH_PREFIX -> value.equals("/")
          || (s.length() >= value.length() && regionMatches(s, 0)
              && (s.length() == value.length() || s.charAt(value.length()) == '/'));
      case SUFFIX -> s.length() >= value.length() && regionMatches(s, s.length() - value.length());
      case REGEX -> pattern.matcher(s).matches();
    };
  }

  private boolean regionMatches(CharSequence s, int from) {
    for (int i = 0; i < value.length(); i++) {
      char a = s.charAt(from + i);
      char b = value.charAt(i);
      if (a != b && !(ignoreCase && Character.toLowerCase(a) == Character.toLowerCase(b))) {
        return false;
      }
    }
    return true;
  }

  @Override
  public String toString() {
    return kind.name().toLowerCase(Locale.ROOT) + (kind == Kind.PRESENT ? "" : ":" + value);
  }
}
