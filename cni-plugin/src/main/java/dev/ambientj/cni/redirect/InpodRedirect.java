package dev.ambientj.cni.redirect;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Traffic capture inside a pod's network namespace (ISTIO-FACTS §5, nat REDIRECT mode), in chains
 * of our own so that it can be checked and removed without touching anyone else's rules.
 *
 * <p>What is installed:
 *
 * <ul>
 *   <li>mangle and nat chains {@value #PRERT} (hooked from PREROUTING) and {@value #OUTPUT} (hooked
 *       from OUTPUT), holding the rules of {@link #RULES};
 *   <li>the policy route for connections ztunnel's sockets touched: {@code ip rule fwmark
 *       0x111/0xfff pref 32764 lookup 100} and {@code local 0.0.0.0/0 dev lo table 100}.
 * </ul>
 *
 * <p>Invariants: {@link #install} is idempotent and atomic per table (one {@code iptables-restore
 * --noflush} transaction that re-declares, hence flushes and refills, our chains and adds only the
 * hooks that are missing); {@link #remove} leaves no chain, hook, rule or route of ours and succeeds
 * when there is nothing to remove. Not covered yet: IPv6 (ip6tables), DNS capture to 15053, the
 * kubelet-probe SNAT in the host netns, per-pod annotations (ingress mode, virtual interfaces).
 *
 * <p>Rule lines are written exactly as {@code iptables-save} prints them, so {@link #check} is a
 * comparison of lines.
 */
public final class InpodRedirect {
  public static final String PRERT = "AMBIENTJ_PRERT";
  public static final String OUTPUT = "AMBIENTJ_OUTPUT";

  /** ztunnel's SO_MARK on every in-pod socket, with its mask. */
  static final String ZTUNNEL_MARK = "0x539/0xfff";
  /** Connection mark for connections ztunnel's sockets touched; selects the policy route. */
  static final String CONN_MARK = "0x111/0xfff";
  static final String ROUTE_TABLE = "100";
  static final String RULE_PREF = "32764";
  /** The address kubelet probes appear from once SNATed on the host. */
  static final String PROBE_SOURCE = "169.254.7.127/32";

  static final List<String> TABLES = List.of("mangle", "nat");

  /** Our rules per table, hooks first, in iptables-save's canonical form. */
  static final Map<String, List<String>> RULES = rules();

  private static Map<String, List<String>> rules() {
    Map<String, List<String>> m = new LinkedHashMap<>();
    m.put(
        "mangle",
        List.of(
            "-A PREROUTING -j " + PRERT,
            "-A OUTPUT -j " + OUTPUT,
            "-A " + PRERT + " -m mark --mark " + ZTUNNEL_MARK
                + " -j CONNMARK --set-xmark " + CONN_MARK,
            "-A " + OUTPUT + " -m connmark --mark " + CONN_MARK
                + " -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff"));
    m.put(
        "nat",
        List.of(
            "-A PREROUTING -j " + PRERT,
            "-A OUTPUT -j " + OUTPUT,
            "-A " + PRERT + " -s " + PROBE_SOURCE + " -p tcp -j ACCEPT",
            "-A " + PRERT + " ! -d 127.0.0.1/32 -p tcp -m tcp ! --dport 15008 -m mark ! --mark "
                + ZTUNNEL_MARK + " -j REDIRECT --to-ports 15006",
            "-A " + OUTPUT + " -d " + PROBE_SOURCE + " -p tcp -j ACCEPT",
            "-A " + OUTPUT + " -p tcp -m mark --mark " + CONN_MARK + " -j ACCEPT",
            "-A " + OUTPUT + " ! -d 127.0.0.1/32 -o lo -j ACCEPT",
            "-A " + OUTPUT + " ! -d 127.0.0.1/32 -p tcp -m mark ! --mark " + ZTUNNEL_MARK
                + " -j REDIRECT --to-ports 15001"));
    return m;
  }

  private final CommandRunner runner;

  public InpodRedirect(CommandRunner runner) {
    this.runner = runner;
  }

  /** The state of the redirection in one netns: what is missing (empty when complete). */
  public record Check(List<String> missing) {
    public Check {
      missing = List.copyOf(missing);
    }

    public boolean complete() {
      return missing.isEmpty();
    }
  }

  /** Installs (or repairs) the redirection in {@code netns}. */
  public void install(String netns) throws RedirectException {
    String saved = exec(netns, List.of("iptables-save"), null).stdout();
    exec(netns, List.of("iptables-restore", "--noflush"), installScript(saved));
    String rules = exec(netns, List.of("ip", "-4", "rule", "show", "pref", RULE_PREF), null).stdout();
    if (!hasPolicyRule(rules)) {
      exec(netns, List.of("ip", "-4", "rule", "add", "fwmark", CONN_MARK, "pref", RULE_PREF,
          "lookup", ROUTE_TABLE), null);
    }
    exec(netns, List.of("ip", "-4", "route", "replace", "local", "0.0.0.0/0", "dev", "lo",
        "table", ROUTE_TABLE), null);
  }

  /** Reports which parts of the redirection are missing in {@code netns}. */
  public Check check(String netns) throws RedirectException {
    String saved = exec(netns, List.of("iptables-save"), null).stdout();
    List<String> missing = missingRules(saved);
    String rules = exec(netns, List.of("ip", "-4", "rule", "show", "pref", RULE_PREF), null).stdout();
    if (!hasPolicyRule(rules)) {
      missing.add("ip rule fwmark " + CONN_MARK + " pref " + RULE_PREF + " lookup " + ROUTE_TABLE);
    }
    String routes = exec(netns, List.of("ip", "-4", "route", "show", "table", ROUTE_TABLE), null).stdout();
    if (!hasLocalRoute(routes)) {
      missing.add("ip route local 0.0.0.0/0 dev lo table " + ROUTE_TABLE);
    }
    return new Check(missing);
  }

  /** Removes everything {@link #install} added; a no-op where nothing is left. */
  public void remove(String netns) throws RedirectException {
    String saved = exec(netns, List.of("iptables-save"), null).stdout();
    String script = removeScript(saved);
    if (!script.isEmpty()) {
      exec(netns, List.of("iptables-restore", "--noflush"), script);
    }
    for (int i = 0; i < 8; i++) {
      String rules = exec(netns, List.of("ip", "-4", "rule", "show", "pref", RULE_PREF), null).stdout();
      if (!hasPolicyRule(rules)) {
        break;
      }
      exec(netns, List.of("ip", "-4", "rule", "del", "fwmark", CONN_MARK, "pref", RULE_PREF,
          "lookup", ROUTE_TABLE), null);
    }
    String routes = exec(netns, List.of("ip", "-4", "route", "show", "table", ROUTE_TABLE), null).stdout();
    if (hasLocalRoute(routes)) {
      exec(netns, List.of("ip", "-4", "route", "del", "local", "0.0.0.0/0", "dev", "lo",
          "table", ROUTE_TABLE), null);
    }
  }

  /** The iptables-restore input that installs our chains, given the netns' iptables-save. */
  static String installScript(String saved) {
    Map<String, Map<String, List<String>>> current = parseSave(saved);
    StringBuilder sb = new StringBuilder();
    for (String table : TABLES) {
      List<String> present = current.getOrDefault(table, Map.of()).getOrDefault("", List.of());
      sb.append('*').append(table).append('\n');
      sb.append(':').append(PRERT).append(" - [0:0]\n");
      sb.append(':').append(OUTPUT).append(" - [0:0]\n");
      for (String rule : RULES.get(table)) {
        if (isHook(rule) && present.contains(rule)) {
          continue;
        }
        sb.append(rule).append('\n');
      }
      sb.append("COMMIT\n");
    }
    return sb.toString();
  }

  /** The iptables-restore input that removes our hooks and chains; empty if there are none. */
  static String removeScript(String saved) {
    Map<String, Map<String, List<String>>> current = parseSave(saved);
    StringBuilder sb = new StringBuilder();
    for (String table : TABLES) {
      Map<String, List<String>> t = current.get(table);
      if (t == null) {
        continue;
      }
      StringBuilder body = new StringBuilder();
      for (String line : t.getOrDefault("", List.of())) {
        if (isHook(line)) {
          body.append("-D").append(line.substring(2)).append('\n');
        }
      }
      for (String chain : List.of(PRERT, OUTPUT)) {
        if (t.containsKey(chain)) {
          body.append("-F ").append(chain).append('\n');
        }
      }
      for (String chain : List.of(PRERT, OUTPUT)) {
        if (t.containsKey(chain)) {
          body.append("-X ").append(chain).append('\n');
        }
      }
      if (body.length() > 0) {
        sb.append('*').append(table).append('\n').append(body).append("COMMIT\n");
      }
    }
    return sb.toString();
  }

  /** Every expected line not found in {@code saved}, as "table: line". */
  static List<String> missingRules(String saved) {
    Map<String, Map<String, List<String>>> current = parseSave(saved);
    List<String> missing = new ArrayList<>();
    for (String table : TABLES) {
      Map<String, List<String>> t = current.getOrDefault(table, Map.of());
      List<String> lines = new ArrayList<>(t.getOrDefault("", List.of()));
      for (String chain : List.of(PRERT, OUTPUT)) {
        lines.addAll(t.getOrDefault(chain, List.of()));
      }
      for (String rule : RULES.get(table)) {
        if (!lines.contains(rule)) {
          missing.add(table + ": " + rule);
        }
      }
    }
    return missing;
  }

  /**
   * Parses iptables-save into table → chain → rule lines. Key "" holds the hook rules (our jumps
   * in built-in chains); our own chains are present as keys (possibly with no rules) when declared.
   */
  static Map<String, Map<String, List<String>>> parseSave(String saved) {
    Map<String, Map<String, List<String>>> tables = new LinkedHashMap<>();
    Map<String, List<String>> table = null;
    for (String raw : saved.split("\n")) {
      String line = raw.strip();
      if (line.startsWith("*")) {
        table = new LinkedHashMap<>();
        tables.put(line.substring(1), table);
      } else if (table == null || line.isEmpty() || line.startsWith("#")) {
        continue;
      } else if (line.startsWith(":")) {
        String chain = line.substring(1, line.indexOf(' ') > 0 ? line.indexOf(' ') : line.length());
        if (chain.equals(PRERT) || chain.equals(OUTPUT)) {
          table.putIfAbsent(chain, new ArrayList<>());
        }
      } else if (line.startsWith("-A ")) {
        String chain = line.split(" ", 3)[1];
        if (chain.equals(PRERT) || chain.equals(OUTPUT)) {
          table.computeIfAbsent(chain, k -> new ArrayList<>()).add(line);
        } else if (isHook(line)) {
          table.computeIfAbsent("", k -> new ArrayList<>()).add(line);
        }
      }
    }
    return tables;
  }

  private static boolean isHook(String rule) {
    return rule.equals("-A PREROUTING -j " + PRERT) || rule.equals("-A OUTPUT -j " + OUTPUT);
  }

  static boolean hasPolicyRule(String ipRuleShow) {
    for (String line : ipRuleShow.split("\n")) {
      if (line.startsWith(RULE_PREF + ":") && line.contains("fwmark " + CONN_MARK)
          && line.contains("lookup " + ROUTE_TABLE)) {
        return true;
      }
    }
    return false;
  }

  static boolean hasLocalRoute(String ipRouteShow) {
    for (String line : ipRouteShow.split("\n")) {
      if (line.startsWith("local default dev lo") || line.startsWith("local 0.0.0.0/0 dev lo")) {
        return true;
      }
    }
    return false;
  }

  private CommandRunner.Result exec(String netns, List<String> argv, String stdin)
      throws RedirectException {
    CommandRunner.Result r;
    try {
      r = runner.run(netns, argv, stdin);
    } catch (IOException e) {
      throw new RedirectException(
          String.join(" ", argv) + " in netns " + netns + " could not run: " + e.getMessage(), e);
    }
    if (!r.ok()) {
      throw new RedirectException(
          String.join(" ", argv) + " in netns " + netns + " exited " + r.exitCode() + ": "
              + r.stderr().strip());
    }
    return r;
  }
}
