package dev.ambientj.cni.agent;

/**
 * The plugin ↔ node-agent protocol over the agent's Unix stream socket.
 *
 * <p>One request per connection: a single UTF-8 line {@code VERB netns namespace pod uid\n}, with
 * {@code VERB} one of {@code ADD}, {@code DEL}, {@code CHECK}, fields separated by one space and
 * {@code -} for an absent field (DEL after the netns is gone). Fields never hold whitespace or
 * control characters: the client refuses such values. The agent answers one line: {@code OK}
 * (enrolled and redirected / removed / rules present), {@code SKIP} (not enrolled: nothing done),
 * or {@code ERR <message for the operator>}, then closes.
 *
 * <p>Plain text rather than protobuf: the plugin is a per-pod process whose start-up is measured,
 * and the message is five short words. This class uses only the JDK, so that the plugin can share
 * it without loading shared-config.
 */
public final class AgentProtocol {
  private AgentProtocol() {}

  /** Where the agent listens unless configured otherwise. */
  public static final String DEFAULT_SOCKET = "/var/run/ambientj/cni-agent.sock";

  public static final String ADD = "ADD";
  public static final String DEL = "DEL";
  public static final String CHECK = "CHECK";

  public static final String OK = "OK";
  public static final String SKIP = "SKIP";
  public static final String ERR = "ERR";

  /** The longest request or response line either side accepts. */
  public static final int MAX_LINE = 4096;

  /** A request line (without the newline); throws if a field cannot be carried. */
  public static String request(String verb, String netns, String namespace, String pod, String uid) {
    StringBuilder sb = new StringBuilder(160).append(verb);
    field(sb, "netns", netns);
    field(sb, "namespace", namespace);
    field(sb, "pod", pod);
    field(sb, "uid", uid);
    return sb.toString();
  }

  private static void field(StringBuilder sb, String name, String value) {
    sb.append(' ');
    if (value == null || value.isEmpty()) {
      sb.append('-');
      return;
    }
    for (int i = 0; i < value.length(); i++) {
      if (value.charAt(i) <= ' ' || value.charAt(i) == 0x7f) {
        throw new IllegalArgumentException(
            name + " \"" + value + "\" holds whitespace or a control character");
      }
    }
    sb.append(value);
  }

  /** A parsed request line. Absent fields are empty strings. */
  public record Request(String verb, String netns, String namespace, String pod, String uid) {
    /** Parses a request line; throws {@link IllegalArgumentException} naming what is wrong. */
    public static Request parse(String line) {
      String[] f = line.split(" ", -1);
      if (f.length != 5) {
        throw new IllegalArgumentException(
            "expected 'VERB netns namespace pod uid', got " + f.length + " fields");
      }
      if (!f[0].equals(ADD) && !f[0].equals(DEL) && !f[0].equals(CHECK)) {
        throw new IllegalArgumentException("unknown verb '" + f[0] + "' (expected ADD, DEL or CHECK)");
      }
      for (int i = 1; i < 5; i++) {
        if (f[i].isEmpty()) {
          throw new IllegalArgumentException("empty field " + i + " (use '-' for absent)");
        }
        if (f[i].equals("-")) {
          f[i] = "";
        }
      }
      return new Request(f[0], f[1], f[2], f[3], f[4]);
    }
  }
}
