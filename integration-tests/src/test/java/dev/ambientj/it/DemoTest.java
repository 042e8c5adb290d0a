package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.launcher.demo.DemoCommand;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * {@code ./mesh demo} on the real {@code examples/} (addresses 127.0.1.x, 127.0.2.x, 127.0.100.x,
 * 127.10.0.x): exits 0 and prints the table with both SPIFFE ids.
 */
class DemoTest {

  @Test
  void demoPassesEveryCheckAndPrintsTheTable() throws Exception {
    Path examples = findExamples();
    PrintStream original = System.out;
    PrintStream originalErr = System.err;
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    ByteArrayOutputStream capturedErr = new ByteArrayOutputStream();
    int exit;
    System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
    System.setErr(new PrintStream(capturedErr, true, StandardCharsets.UTF_8));
    try {
      exit = DemoCommand.run(new String[] {"--examples", examples.toString()});
    } finally {
      System.setOut(original);
      System.setErr(originalErr);
    }
    String out = captured.toString(StandardCharsets.UTF_8);
    String err = capturedErr.toString(StandardCharsets.UTF_8);
    original.println(out);
    originalErr.println(err);

    // each phase announced as it starts, with the time since the start, in this order
    assertThat(err.lines().filter(l -> l.startsWith("mesh demo: [")).map(l -> l.replaceAll(
        "^mesh demo: \\[ *\\d+\\.\\d s\\] (\\w+):.*", "$1")).toList())
        .containsExactly("config", "CA", "nodes", "apps", "waypoint", "traffic");

    assertThat(exit).as(out).isZero();
    assertThat(out).contains("✓ all")
        .contains("api-gateway-0 (node-a) → orders.production.svc.cluster.local:80")
        .contains("spiffe://cluster.local/ns/production/sa/api-gateway")
        .contains("spiffe://cluster.local/ns/production/sa/orders")
        .contains("curl --socks5-hostname 127.0.1.10:15080")
        .doesNotContain("✗");
  }

  @Test
  void unknownFlagIsAUsageError() {
    assertThat(DemoCommand.run(new String[] {"--bogus"})).isEqualTo(2);
    assertThat(DemoCommand.run(new String[] {"--help"})).isZero();
  }

  private static Path findExamples() {
    for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
      if (Files.isRegularFile(dir.resolve("examples/mesh.yaml"))) {
        return dir.resolve("examples");
      }
    }
    throw new IllegalStateException("examples/ not found");
  }
}
