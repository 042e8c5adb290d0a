package dev.ambientj.launcher.image;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.spi.ToolProvider;
import java.util.stream.Stream;

/**
 * The Java runtime of the container image: jlink'd from the JDK that runs this (the build's JDK
 * 25) with {@link #MODULES}, laid at {@code /app/jre} by the launcher's {@code -Pimage} profile.
 * The image's base (launcher/pom.xml, {@code ambientj.image.base}) brings iptables, iproute2 and
 * nsenter for the CNI agent but no Java; this brings Java. The node harness (integration-tests,
 * {@code dev.ambientj.it.cluster}) runs every ambientj container on a runtime made here, so a
 * module missing from the list fails there.
 */
public final class ImageRuntime {
  /**
   * What ambientj and its libraries need ({@code jdeps --print-module-deps} over the launcher and
   * its runtime jars, plus java.logging, which Vert.x and Netty load reflectively), and the
   * modules of every security provider the runtime's {@code java.security} lists: a provider whose
   * module is missing is searched for on the class path instead, which verifies the signed
   * BouncyCastle jars (1.1 MB of manifests) on the TLS client's event loop — seen in the node
   * harness as seconds-long Vert.x stalls and the Kubernetes client's 10 s timeouts.
   */
  public static final List<String> MODULES = List.of("java.base", "java.compiler", "java.desktop",
      "java.logging", "java.naming", "java.net.http", "java.sql", "jdk.jfr", "jdk.management",
      "jdk.unsupported",
      "java.security.jgss", "java.security.sasl", "java.smartcardio", "java.xml.crypto",
      "jdk.crypto.cryptoki", "jdk.crypto.ec", "jdk.security.jgss");

  /**
   * jlink's options besides the modules. The CDS archive matters: without one every JDK class
   * is parsed and every lambda form spun at start-up, which on a busy 2-core node made the CNI
   * agent's API client miss its 10 s timeouts (seen in the node harness).
   */
  public static final List<String> OPTIONS = List.of("--strip-debug", "--no-man-pages",
      "--no-header-files", "--generate-cds-archive");

  private ImageRuntime() {}

  /** {@code ImageRuntime OUT}: jlinks the runtime into OUT (replaced if it exists). */
  public static void main(String[] args) throws IOException {
    if (args.length != 1) {
      System.err.println("usage: ImageRuntime OUT_DIR");
      System.exit(2);
    }
    build(Path.of(args[0]));
  }

  /** jlinks {@link #MODULES} from the running JDK into {@code out}, replacing it. */
  public static Path build(Path out) throws IOException {
    if (Files.exists(out)) {
      try (Stream<Path> walk = Files.walk(out)) {
        for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
          Files.delete(p);
        }
      }
    }
    ToolProvider jlink = ToolProvider.findFirst("jlink").orElseThrow(() ->
        new IOException("jlink is not in this Java runtime (" + System.getProperty("java.home")
            + "): the image's runtime must be made by a JDK 25"));
    StringWriter log = new StringWriter();
    PrintWriter w = new PrintWriter(log);
    List<String> args = new java.util.ArrayList<>(List.of("--add-modules", String.join(",", MODULES)));
    args.addAll(OPTIONS);
    args.addAll(List.of("--output", out.toString()));
    int code = jlink.run(w, w, args.toArray(String[]::new));
    if (code != 0) {
      throw new IOException("jlink exited " + code + ": " + log);
    }
    return out;
  }
}
