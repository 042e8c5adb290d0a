package dev.ambientj.cni.plugin;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small, strict JSON reader (RFC 8259) and string escaper for the CNI network config.
 *
 * <p>Why not Jackson: the plugin runs once per pod start and its classpath is this module's jar
 * alone; Jackson's class loading alone costs more than the whole plugin run (see README).
 *
 * <p>Values: objects are {@code Map<String,Object>} (insertion order, duplicate keys rejected),
 * arrays {@code List<Object>}, strings {@code String}, numbers {@link Num} (raw text kept), and
 * {@code Boolean} / {@link #NULL}. The reader also remembers the raw text of each top-level
 * member, so a chained plugin can hand {@code prevResult} back byte for byte.
 */
final class Json {
  /** JSON {@code null} (maps hold no Java null). */
  static final Object NULL = new Object() {
    @Override
    public String toString() {
      return "null";
    }
  };

  /** A number, kept as written. */
  record Num(String text) {}

  /** A parsed document: its root object and the raw text of each top-level member's value. */
  record Document(Map<String, Object> root, Map<String, String> rawMembers) {}

  /** Thrown for malformed input; the message names the offset and what was expected. */
  static final class ParseException extends Exception {
    private static final long serialVersionUID = 1L;

    ParseException(String message) {
      super(message);
    }
  }

  private static final int MAX_DEPTH = 64;

  private final String s;
  private int pos;

  private Json(String s) {
    this.s = s;
  }

  /** Parses a document whose root must be an object. */
  static Document parseObject(String text) throws ParseException {
    Json p = new Json(text);
    p.skipWs();
    if (p.pos >= text.length() || text.charAt(p.pos) != '{') {
      throw p.error("expected a JSON object");
    }
    Map<String, String> raw = new LinkedHashMap<>();
    Map<String, Object> root = p.readObject(0, raw);
    p.skipWs();
    if (p.pos != text.length()) {
      throw p.error("unexpected text after the JSON object");
    }
    return new Document(root, raw);
  }

  private Object readValue(int depth) throws ParseException {
    if (depth > MAX_DEPTH) {
      throw error("nesting deeper than " + MAX_DEPTH);
    }
    skipWs();
    if (pos >= s.length()) {
      throw error("unexpected end of input");
    }
    char c = s.charAt(pos);
    switch (c) {
      case '{':
        return readObject(depth, null);
      case '[':
        return readArray(depth);
      case '"':
        return readString();
      case 't':
        expectWord("true");
        return Boolean.TRUE;
      case 'f':
        expectWord("false");
        return Boolean.FALSE;
      case 'n':
        expectWord("null");
        return NULL;
      default:
        if (c == '-' || (c >= '0' && c <= '9')) {
          return readNumber();
        }
        throw error("unexpected character '" + c + "'");
    }
  }

  private Map<String, Object> readObject(int depth, Map<String, String> rawMembers)
      throws ParseException {
    pos++; // '{'
    Map<String, Object> map = new LinkedHashMap<>();
    skipWs();
    if (peek() == '}') {
      pos++;
      return map;
    }
    while (true) {
      skipWs();
      if (peek() != '"') {
        throw error("expected a member name in double quotes");
      }
      String key = readString();
      skipWs();
      if (peek() != ':') {
        throw error("expected ':' after \"" + key + "\"");
      }
      pos++;
      skipWs();
      int start = pos;
      Object value = readValue(depth + 1);
      if (map.put(key, value) != null) {
        throw error("duplicate member \"" + key + "\"");
      }
      if (rawMembers != null) {
        rawMembers.put(key, s.substring(start, pos));
      }
      skipWs();
      char c = peek();
      pos++;
      if (c == '}') {
        return map;
      }
      if (c != ',') {
        pos--;
        throw error("expected ',' or '}' in object");
      }
    }
  }

  private List<Object> readArray(int depth) throws ParseException {
    pos++; // '['
    List<Object> list = new ArrayList<>();
    skipWs();
    if (peek() == ']') {
      pos++;
      return list;
    }
    while (true) {
      list.add(readValue(depth + 1));
      skipWs();
      char c = peek();
      pos++;
      if (c == ']') {
        return list;
      }
      if (c != ',') {
        pos--;
        throw error("expected ',' or ']' in array");
      }
    }
  }

  private String readString() throws ParseException {
    pos++; // opening quote
    StringBuilder sb = new StringBuilder();
    while (true) {
      if (pos >= s.length()) {
        throw error("unterminated string");
      }
      char c = s.charAt(pos++);
      if (c == '"') {
        return sb.toString();
      }
      if (c < 0x20) {
        throw error("control character in string");
      }
      if (c != '\\') {
        sb.append(c);
        continue;
      }
      if (pos >= s.length()) {
        throw error("unterminated escape");
      }
      char e = s.charAt(pos++);
      switch (e) {
        case '"', '\\', '/' -> sb.append(e);
        case 'b' -> sb.append('\b');
        case 'f' -> sb.append('\f');
        case 'n' -> sb.append('\n');
        case 'r' -> sb.append('\r');
        case 't' -> sb.append('\t');
        case 'u' -> {
          if (pos + 4 > s.length()) {
            throw error("short \\u escape");
          }
          int v = 0;
          for (int i = 0; i < 4; i++) {
            int d = Character.digit(s.charAt(pos++), 16);
            if (d < 0) {
              throw error("bad hex digit in \\u escape");
            }
            v = v * 16 + d;
          }
          sb.append((char) v);
        }
        default -> throw error("bad escape '\\" + e + "'");
      }
    }
  }

  private Num readNumber() throws ParseException {
    int start = pos;
    if (peek() == '-') {
      pos++;
    }
    if (peek() == '0') {
      pos++;
    } else if (isDigit(peek())) {
      while (isDigit(peek())) {
        pos++;
      }
    } else {
      throw error("bad number");
    }
    if (peek() == '.') {
      pos++;
      if (!isDigit(peek())) {
        throw error("bad number: digit expected after '.'");
      }
      while (isDigit(peek())) {
        pos++;
      }
    }
    if (peek() == 'e' || peek() == 'E') {
      pos++;
      if (peek() == '+' || peek() == '-') {
        pos++;
      }
      if (!isDigit(peek())) {
        throw error("bad number: digit expected in exponent");
      }
      while (isDigit(peek())) {
        pos++;
      }
    }
    return new Num(s.substring(start, pos));
  }

  private void expectWord(String word) throws ParseException {
    if (!s.startsWith(word, pos)) {
      throw error("expected '" + word + "'");
    }
    pos += word.length();
  }

  private void skipWs() {
    while (pos < s.length()) {
      char c = s.charAt(pos);
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
        return;
      }
      pos++;
    }
  }

  private char peek() {
    return pos < s.length() ? s.charAt(pos) : '\0';
  }

  private static boolean isDigit(char c) {
    return c >= '0' && c <= '9';
  }

  private ParseException error(String what) {
    return new ParseException(what + " at offset " + pos);
  }

  /** Appends {@code value} as a JSON string literal, in ASCII (others as {@code \\uXXXX}). */
  static StringBuilder quote(StringBuilder out, String value) {
    out.append('"');
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        default -> {
          if (c < 0x20 || c > 0x7e) {
            // ASCII out whatever the locale's encoding of stdout is.
            out.append("\\u");
            for (int shift = 12; shift >= 0; shift -= 4) {
              out.append(Character.forDigit((c >> shift) & 0xf, 16));
            }
          } else {
            out.append(c);
          }
        }
      }
    }
    return out.append('"');
  }
}
