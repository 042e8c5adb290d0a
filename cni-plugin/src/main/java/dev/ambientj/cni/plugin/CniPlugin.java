package dev.ambientj.cni.plugin;

import dev.ambientj.cni.agent.AgentProtocol;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * The CNI plugin executable (CNI spec 1.0.0), chained after the primary plugin.
 *
 * <p>The runtime runs it once per pod network operation with {@code CNI_COMMAND},
 * {@code CNI_CONTAINERID}, {@code CNI_NETNS}, {@code CNI_IFNAME}, {@code CNI_PATH},
 * {@code CNI_ARGS} in the environment and the network configuration on stdin:
 *
 * <ul>
 *   <li>{@code ADD}: asks the node agent to enroll the pod ({@code K8S_POD_*} from
 *       {@code CNI_ARGS}); the agent decides from the mesh config, installs the redirection in the
 *       pod's netns and answers before this returns, so the pod's containers start captured. Prints
 *       {@code prevResult} unchanged (or an empty result).
 *   <li>{@code DEL}: asks the agent to remove the redirection; idempotent, no output.
 *   <li>{@code CHECK}: asks the agent whether the rules are in place.
 *   <li>{@code VERSION}: the versions this plugin speaks.
 * </ul>
 *
 * <p>Failures print the spec's error object on stdout and exit 1. Plugin config fields beyond
 * the spec's: {@code agentSocket} (default {@value AgentProtocol#DEFAULT_SOCKET}),
 * {@code failOpen} (default false: if the agent's socket is absent, ADD fails with code 11 rather
 * than start the pod uncaptured), {@code agentTimeoutMs} (default 30000).
 *
 * <p>Start-up is a figure for this class: it touches only JDK classes and this package, uses no
 * lambdas, and the module compiles string concatenation inline (see README).
 */
public final class CniPlugin {
  static final String PLUGIN_VERSION = "1.0.0";
  static final String[] SUPPORTED = {"0.3.0", "0.3.1", "0.4.0", "1.0.0"};
  private static final int MAX_STDIN = 1 << 20;
  private static final long DEFAULT_TIMEOUT_MS = 30_000;

  private CniPlugin() {}

  public static void main(String[] args) {
    int rc = run(System.getenv(), System.in, System.out, System.err);
    System.out.flush();
    System.err.flush();
    // halt, not exit: there are no shutdown hooks to run, and since JDK 21 Runtime.exit initialises
    // the System.Logger machinery (RuntimeExit event logging) — ~30 classes and a LambdaForm.
    Runtime.getRuntime().halt(rc);
  }

  /** Runs one CNI operation; returns the exit status. Output goes to {@code out}. */
  static int run(Map<String, String> env, InputStream stdin, PrintStream out, PrintStream log) {
    String version = PLUGIN_VERSION;
    try {
      String command = env.get("CNI_COMMAND");
      if (command == null || command.isEmpty()) {
        throw new CniError(CniError.INVALID_ENV, "CNI_COMMAND is not set");
      }
      String input = readAll(stdin);
      if (command.equals("VERSION")) {
        out.print(versionJson());
        return 0;
      }
      if (!command.equals("ADD") && !command.equals("DEL") && !command.equals("CHECK")) {
        throw new CniError(
            CniError.INVALID_ENV,
            "CNI_COMMAND \"" + command + "\" is not supported (expected ADD, DEL, CHECK or VERSION)");
      }
      Json.Document doc;
      try {
        doc = Json.parseObject(input);
      } catch (Json.ParseException e) {
        throw new CniError(
            CniError.DECODE_FAILURE,
            "network configuration on stdin is not valid JSON: " + e.getMessage());
      }
      PluginConfig config = PluginConfig.from(doc);
      version = config.cniVersion();
      PodRequest pod = PodRequest.from(command, env);
      return switch (command) {
        case "ADD" -> add(config, pod, out, log);
        case "DEL" -> del(config, pod, log);
        default -> check(config, pod, log);
      };
    } catch (CniError e) {
      out.print(e.toJson(version));
      return 1;
    }
  }

  private static int add(PluginConfig config, PodRequest pod, PrintStream out, PrintStream log)
      throws CniError {
    if (pod.isKubernetesPod()) {
      String answer = callAgent(config, pod, AgentProtocol.ADD, log);
      if (answer != null && !answer.equals(AgentProtocol.OK) && !answer.equals(AgentProtocol.SKIP)) {
        throw agentRefused(answer, "enroll", pod);
      }
    }
    if (config.prevResultRaw() != null) {
      out.print(config.prevResultRaw());
    } else {
      StringBuilder sb = new StringBuilder("{\"cniVersion\":");
      Json.quote(sb, config.cniVersion());
      out.print(sb.append('}'));
    }
    return 0;
  }

  private static int del(PluginConfig config, PodRequest pod, PrintStream log) throws CniError {
    if (!pod.isKubernetesPod()) {
      return 0;
    }
    String answer;
    try {
      answer = agent(config).call(pod.line(AgentProtocol.DEL));
    } catch (IllegalArgumentException e) {
      throw new CniError(CniError.INVALID_ENV, e.getMessage());
    } catch (AgentClient.AgentUnavailable e) {
      // The rules live in the pod's netns and go with it; nothing else to undo here.
      log.println("ambientj-cni: DEL: " + e.getMessage() + "; nothing to remove");
      return 0;
    } catch (IOException e) {
      throw new CniError(CniError.TRY_AGAIN_LATER, "DEL " + pod + ": " + e.getMessage());
    }
    if (!answer.equals(AgentProtocol.OK) && !answer.equals(AgentProtocol.SKIP)) {
      throw agentRefused(answer, "remove the redirection of", pod);
    }
    return 0;
  }

  private static int check(PluginConfig config, PodRequest pod, PrintStream log) throws CniError {
    if (!config.cniVersion().equals("0.4.0") && !config.cniVersion().equals("1.0.0")) {
      throw new CniError(
          CniError.INCOMPATIBLE_VERSION,
          "CHECK needs cniVersion 0.4.0 or later, the configuration says " + config.cniVersion());
    }
    if (!pod.isKubernetesPod()) {
      return 0;
    }
    String answer = callAgent(config, pod, AgentProtocol.CHECK, log);
    if (answer != null && !answer.equals(AgentProtocol.OK) && !answer.equals(AgentProtocol.SKIP)) {
      throw agentRefused(answer, "verify the redirection of", pod);
    }
    return 0;
  }

  /** Returns the agent's answer, or null when the agent is absent and the config fails open. */
  private static String callAgent(PluginConfig config, PodRequest pod, String verb, PrintStream log)
      throws CniError {
    String line;
    try {
      line = pod.line(verb);
    } catch (IllegalArgumentException e) {
      throw new CniError(CniError.INVALID_ENV, e.getMessage());
    }
    try {
      return agent(config).call(line);
    } catch (AgentClient.AgentUnavailable e) {
      if (config.failOpen()) {
        log.println(
            "ambientj-cni: " + verb + " " + pod + ": " + e.getMessage()
                + "; failOpen is true, the pod starts without traffic capture");
        return null;
      }
      throw new CniError(
          CniError.TRY_AGAIN_LATER,
          verb + " " + pod + ": " + e.getMessage()
              + " — is the ambientj cni-agent running on this node? (failOpen is false)");
    } catch (IOException e) {
      throw new CniError(CniError.TRY_AGAIN_LATER, verb + " " + pod + ": " + e.getMessage());
    }
  }

  private static AgentClient agent(PluginConfig config) {
    return new AgentClient(Path.of(config.agentSocket()), config.agentTimeoutMillis());
  }

  private static CniError agentRefused(String answer, String what, PodRequest pod) {
    String msg =
        answer.startsWith(AgentProtocol.ERR + " ")
            ? answer.substring(AgentProtocol.ERR.length() + 1)
            : "unexpected answer \"" + answer + "\"";
    return new CniError(
        CniError.ENROLLMENT_FAILED, "node agent could not " + what + " " + pod + ": " + msg);
  }

  static String versionJson() {
    StringBuilder sb = new StringBuilder("{\"cniVersion\":\"").append(PLUGIN_VERSION);
    sb.append("\",\"supportedVersions\":[");
    for (int i = 0; i < SUPPORTED.length; i++) {
      sb.append(i == 0 ? "\"" : ",\"").append(SUPPORTED[i]).append('"');
    }
    return sb.append("]}").toString();
  }

  private static String readAll(InputStream in) throws CniError {
    try {
      ByteArrayOutputStream buf = new ByteArrayOutputStream(1024);
      byte[] chunk = new byte[8192];
      int n;
      while ((n = in.read(chunk)) > 0) {
        buf.write(chunk, 0, n);
        if (buf.size() > MAX_STDIN) {
          throw new CniError(
              CniError.IO_FAILURE, "network configuration on stdin is larger than 1 MiB");
        }
      }
      return buf.toString(StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new CniError(CniError.IO_FAILURE, "cannot read stdin: " + e.getMessage());
    }
  }

  /** The fields of the network configuration this plugin reads. */
  record PluginConfig(
      String cniVersion,
      String name,
      String agentSocket,
      boolean failOpen,
      long agentTimeoutMillis,
      String prevResultRaw) {

    static PluginConfig from(Json.Document doc) throws CniError {
      Map<String, Object> root = doc.root();
      Object v = root.get("cniVersion");
      if (!(v instanceof String version)) {
        throw new CniError(
            CniError.INVALID_CONFIG, "cniVersion: " + describe(v) + " (expected: a version string)");
      }
      boolean known = false;
      for (String s : SUPPORTED) {
        known |= s.equals(version);
      }
      if (!known) {
        throw new CniError(
            CniError.INCOMPATIBLE_VERSION,
            "cniVersion \"" + version + "\" is not supported (supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0)");
      }
      Object name = root.get("name");
      if (!(name instanceof String n) || n.isEmpty()) {
        throw new CniError(
            CniError.INVALID_CONFIG, "name: " + describe(name) + " (expected: the network's name)");
      }
      String socket = AgentProtocol.DEFAULT_SOCKET;
      Object s = root.get("agentSocket");
      if (s != null) {
        if (!(s instanceof String str) || str.isEmpty() || !isPath(str)) {
          throw new CniError(
              CniError.INVALID_CONFIG, "agentSocket: " + describe(s) + " (expected: a socket path)");
        }
        socket = str;
      }
      boolean failOpen = false;
      Object f = root.get("failOpen");
      if (f != null) {
        if (!(f instanceof Boolean b)) {
          throw new CniError(
              CniError.INVALID_CONFIG, "failOpen: " + describe(f) + " (expected: true or false)");
        }
        failOpen = b;
      }
      long timeout = DEFAULT_TIMEOUT_MS;
      Object t = root.get("agentTimeoutMs");
      if (t != null) {
        long ms = -1;
        if (t instanceof Json.Num num) {
          try {
            ms = Long.parseLong(num.text());
          } catch (NumberFormatException e) {
            ms = -1;
          }
        }
        if (ms < 1 || ms > 600_000) {
          throw new CniError(
              CniError.INVALID_CONFIG,
              "agentTimeoutMs: " + describe(t) + " (expected: an integer 1..600000)");
        }
        timeout = ms;
      }
      Object prev = root.get("prevResult");
      if (prev != null && !(prev instanceof Map)) {
        throw new CniError(
            CniError.INVALID_CONFIG, "prevResult: " + describe(prev) + " (expected: an object)");
      }
      return new PluginConfig(
          version, n, socket, failOpen, timeout, prev == null ? null : doc.rawMembers().get("prevResult"));
    }

    /** Whether {@code s} is a path this system can open (JSON allows a NUL, a path does not). */
    private static boolean isPath(String s) {
      try {
        Path.of(s);
        return true;
      } catch (java.nio.file.InvalidPathException e) {
        return false;
      }
    }

    private static String describe(Object v) {
      if (v == null) {
        return "missing";
      }
      if (v instanceof String str) {
        return "\"" + str + "\"";
      }
      if (v instanceof Json.Num num) {
        return num.text();
      }
      if (v instanceof Map) {
        return "an object";
      }
      if (v instanceof java.util.List) {
        return "an array";
      }
      return String.valueOf(v);
    }
  }

  /** The runtime's identification of the container and, for Kubernetes, the pod. */
  record PodRequest(
      String containerId, String netns, String ifname, String namespace, String name, String uid) {

    static PodRequest from(String command, Map<String, String> env) throws CniError {
      StringBuilder missing = new StringBuilder();
      String[] required =
          command.equals("DEL")
              ? new String[] {"CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"}
              : new String[] {"CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"};
      for (String var : required) {
        String value = env.get(var);
        if (value == null || value.isEmpty()) {
          missing.append(missing.length() == 0 ? "" : ", ").append(var);
        }
      }
      if (missing.length() > 0) {
        throw new CniError(CniError.INVALID_ENV, command + " needs " + missing + " to be set");
      }
      Map<String, String> args = parseArgs(env.get("CNI_ARGS"));
      String netns = env.get("CNI_NETNS");
      return new PodRequest(
          env.get("CNI_CONTAINERID"),
          netns == null ? "" : netns,
          env.get("CNI_IFNAME"),
          args.getOrDefault("K8S_POD_NAMESPACE", ""),
          args.getOrDefault("K8S_POD_NAME", ""),
          args.getOrDefault("K8S_POD_UID", ""));
    }

    /** {@code CNI_ARGS}: {@code KEY=VALUE} pairs separated by semicolons. */
    static Map<String, String> parseArgs(String cniArgs) throws CniError {
      Map<String, String> args = new HashMap<>();
      if (cniArgs == null || cniArgs.isEmpty()) {
        return args;
      }
      for (String pair : cniArgs.split(";", -1)) {
        if (pair.isEmpty()) {
          continue;
        }
        int eq = pair.indexOf('=');
        if (eq <= 0) {
          throw new CniError(
              CniError.INVALID_ENV, "CNI_ARGS: \"" + pair + "\" (expected: KEY=VALUE pairs separated by ';')");
        }
        args.put(pair.substring(0, eq), pair.substring(eq + 1));
      }
      return args;
    }

    boolean isKubernetesPod() {
      return !namespace.isEmpty() && !name.isEmpty();
    }

    String line(String verb) {
      return AgentProtocol.request(verb, netns, namespace, name, uid);
    }

    @Override
    public String toString() {
      return "pod " + namespace + "/" + name;
    }
  }
}
