package dev.ambientj.cni.plugin;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.ambientj.cni.agent.AgentProtocol;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * Fuzzes one run of the CNI plugin ({@link CniPlugin#run}): its environment and its stdin network
 * configuration, as the container runtime hands them over, against a node agent on a Unix socket
 * that answers each request line with the input's answer.
 *
 * <p>Input (UTF-8): line 1 {@code CNI_COMMAND}, line 2 {@code CNI_ARGS}, line 3 {@code
 * CNI_NETNS}, line 4 the agent's answer ({@code <close>}: it hangs up without one), the rest the
 * stdin JSON, where {@code @AGENT@} stands for the fake agent's socket path. A configuration that
 * names (or defaults to) another socket that exists on this machine is not run: the plugin would
 * talk to a real agent.
 *
 * <p>A finding: an exception out of {@code run} (the runtime would get a stack trace instead of a
 * CNI result), an exit status other than 0 or 1, or output that is not one JSON object.
 */
class CniPluginFuzzTest {
  private static final Path DIR;
  private static final Path SOCKET;
  private static volatile String answer = "OK";

  static {
    try {
      DIR = Files.createTempDirectory("cni-fuzz");
      SOCKET = DIR.resolve("agent.sock");
      ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
      server.bind(UnixDomainSocketAddress.of(SOCKET));
      Thread agent = new Thread(() -> serve(server), "fake-cni-agent");
      agent.setDaemon(true);
      agent.start();
    } catch (IOException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  /** One answer per connection: reads the request line, writes {@link #answer} (or hangs up). */
  private static void serve(ServerSocketChannel server) {
    while (true) {
      try (SocketChannel c = server.accept()) {
        ByteBuffer in = ByteBuffer.allocate(AgentProtocol.MAX_LINE);
        while (c.read(in) > 0 && in.get(in.position() - 1) != '\n' && in.hasRemaining()) {
          // until the request line is complete
        }
        String a = answer;
        if (!a.equals("<close>")) {
          c.write(ByteBuffer.wrap((a + "\n").getBytes(StandardCharsets.UTF_8)));
        }
      } catch (IOException e) {
        // the plugin hung up first; next connection
      }
    }
  }

  @FuzzTest
  void invocation(byte[] input) throws Exception {
    String[] parts = new String(input, StandardCharsets.UTF_8).split("\n", 5);
    if (parts.length < 5) {
      return;
    }
    String stdin = parts[4].replace("@AGENT@", SOCKET.toString());
    if (talksToAnotherAgent(stdin)) {
      return;
    }
    Map<String, String> env = new HashMap<>();
    env.put("CNI_COMMAND", parts[0]);
    env.put("CNI_ARGS", parts[1]);
    env.put("CNI_NETNS", parts[2]);
    env.put("CNI_CONTAINERID", "c0ffee");
    env.put("CNI_IFNAME", "eth0");
    env.put("CNI_PATH", "/opt/cni/bin");
    answer = parts[3];
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    int rc = CniPlugin.run(env, new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)),
        new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(log, true, StandardCharsets.UTF_8));
    assertThat(rc).isIn(0, 1);
    String printed = out.toString(StandardCharsets.UTF_8);
    if (rc == 1 || !printed.isEmpty()) {
      Json.parseObject(printed); // throws: the runtime could not read the result
    }
  }

  /** Whether the configuration's agent socket is a path that exists and is not the fake agent's. */
  private static boolean talksToAnotherAgent(String stdin) {
    String socket = AgentProtocol.DEFAULT_SOCKET;
    try {
      Object named = Json.parseObject(stdin).root().get("agentSocket");
      if (named instanceof String s) {
        socket = s;
      }
    } catch (Json.ParseException e) {
      return false; // the plugin stops at the JSON
    }
    try {
      Path p = Path.of(socket);
      return !p.equals(SOCKET) && Files.exists(p);
    } catch (InvalidPathException e) {
      return false; // no such path anywhere
    }
  }
}
