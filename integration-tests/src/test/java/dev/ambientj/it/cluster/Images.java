package dev.ambientj.it.cluster;

import dev.ambientj.cni.install.PluginPayloadBuilder;
import dev.ambientj.launcher.image.ImageRuntime;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * What the harness runs for an image name, since no registry is reachable here.
 *
 * <ul>
 *   <li>{@code ambientj} (any tag): the image launcher's {@code -Pimage} profile builds, laid out
 *       as Jib lays it out — {@code /app/mesh} (the image's own script), {@code
 *       /app/mesh-jvm-defaults}, {@code /app/libs/*.jar} (this build's launcher and its runtime
 *       dependencies), {@code /app/cni} (the CNI plugin payload, built by {@link
 *       PluginPayloadBuilder} as the image build does), {@code /app/jre} (the runtime jlink'd by
 *       {@link ImageRuntime} with its module list, as the image build does) — on a base that
 *       provides exactly the executables launcher/pom.xml declares for it ({@code
 *       ambientj.image.base.provides}).
 *   <li>any other name: a "tools" image with every program of this machine (sh, socat, curl,
 *       sleep) for application pods.
 * </ul>
 */
final class Images {
  /** Where the image's Java runtime is (launcher's ImageRuntime; the base brings none). */
  static final String JAVA_HOME = "/app/jre";

  /**
   * One image: its {@code /app} directory (null: none), the executables of its base (null: all
   * of this machine's {@code /usr}), its environment and entrypoint.
   */
  record Image(String name, Path app, List<String> binaries, Path javaHome, Map<String, String> env,
      List<String> entrypoint) {}

  private final Image ambientj;
  private final Image tools;

  private Images(Image ambientj, Image tools) {
    this.ambientj = ambientj;
    this.tools = tools;
  }

  Image forName(String image) {
    String repo = image.contains(":") ? image.substring(0, image.lastIndexOf(':')) : image;
    return repo.equals("ambientj") || repo.endsWith("/ambientj") ? ambientj : tools;
  }

  /** Lays out the ambientj image under {@code dir} from this build's jars; builds the CNI payload. */
  static Images prepare(Path repo, Path dir) throws IOException {
    Path launcherTarget = repo.resolve("launcher/target");
    Path jar = launcherTarget.resolve("launcher.jar");
    Path lib = launcherTarget.resolve("lib");
    if (!Files.isRegularFile(jar) || !Files.isDirectory(lib)) {
      throw new IllegalStateException("the ambientj image needs " + jar + " and " + lib
          + ": run the harness after the launcher is packaged (./mvnw verify, or"
          + " ./mvnw -pl integration-tests -am verify)");
    }
    Path app = dir.resolve("app");
    Path libs = app.resolve("libs");
    Files.createDirectories(libs);
    Files.createDirectories(app.resolve("classes"));
    Files.createDirectories(app.resolve("resources"));
    link(jar, libs.resolve("launcher.jar"));
    try (Stream<Path> jars = Files.list(lib)) {
      for (Path j : jars.toList()) {
        link(j, libs.resolve(j.getFileName()));
      }
    }
    Path mesh = app.resolve("mesh");
    Files.copy(repo.resolve("launcher/src/main/jib/app/mesh"), mesh, StandardCopyOption.REPLACE_EXISTING);
    Files.setPosixFilePermissions(mesh, PosixFilePermissions.fromString("rwxr-xr-x"));
    Files.copy(repo.resolve("launcher/src/main/sh/mesh-jvm-defaults"), app.resolve("mesh-jvm-defaults"),
        StandardCopyOption.REPLACE_EXISTING);
    copyTree(cniPayload(repo), app.resolve("cni"));
    Files.createDirectories(app.resolve("jre"));
    Map<String, String> env = new LinkedHashMap<>();
    env.put("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    Image ambientj = new Image("ambientj", app, baseBinaries(repo), runtime(repo), env, List.of("/app/mesh"));
    Image tools = new Image("tools", null, null, null,
        Map.of("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"), List.of());
    return new Images(ambientj, tools);
  }

  /** {@code ambientj.image.base.provides} of launcher/pom.xml: the one place the base is declared. */
  static List<String> baseBinaries(Path repo) throws IOException {
    String pom = Files.readString(repo.resolve("launcher/pom.xml"));
    Matcher m = Pattern.compile("<ambientj\\.image\\.base\\.provides>([^<]*)</ambientj\\.image\\.base\\.provides>")
        .matcher(pom);
    if (!m.find()) {
      throw new IllegalStateException("launcher/pom.xml declares no ambientj.image.base.provides");
    }
    return Arrays.stream(m.group(1).trim().split("\\s+")).toList();
  }

  /**
   * The CNI plugin payload as the image build makes it ({@link PluginPayloadBuilder}, without the
   * AOT cache), built once per version of the plugin's classes and script and kept under
   * integration-tests/target (the jlink takes seconds).
   */
  private static Path cniPayload(Path repo) throws IOException {
    Path script = repo.resolve("cni-plugin/src/main/sh/ambientj-cni");
    Path classes;
    try {
      classes = Path.of(dev.ambientj.cni.plugin.CniPlugin.class.getProtectionDomain().getCodeSource()
          .getLocation().toURI());
    } catch (java.net.URISyntaxException e) {
      throw new IOException(e);
    }
    long stamp = Files.getLastModifiedTime(script).toMillis();
    try (Stream<Path> files = Files.walk(classes)) {
      stamp = Math.max(stamp, files.mapToLong(f -> f.toFile().lastModified()).max().orElse(0));
    }
    Path cached = repo.resolve("integration-tests/target/cluster-harness/cni-payload-" + Long.toHexString(stamp));
    if (!Files.isRegularFile(cached.resolve(PluginPayloadBuilder.EXECUTABLE))) {
      Files.createDirectories(cached.getParent());
      Path tmp = Files.createTempDirectory(cached.getParent(), "building-");
      PluginPayloadBuilder.build(tmp.resolve("cni"), script, false);
      Files.move(tmp.resolve("cni"), cached, StandardCopyOption.ATOMIC_MOVE);
      AtomicVolume.deleteTree(tmp);
    }
    return cached;
  }

  /** The image's runtime, jlink'd once per module list and JDK and kept under integration-tests/target. */
  private static Path runtime(Path repo) throws IOException {
    String key = Integer.toHexString((String.join(",", ImageRuntime.MODULES) + ImageRuntime.OPTIONS
        + System.getProperty("java.home")
        + Runtime.version()).hashCode());
    Path cached = repo.resolve("integration-tests/target/cluster-harness/image-jre-" + key);
    if (!Files.isExecutable(cached.resolve("bin/java"))) {
      Files.createDirectories(cached.getParent());
      Path tmp = Files.createTempDirectory(cached.getParent(), "building-");
      ImageRuntime.build(tmp.resolve("jre"));
      Files.move(tmp.resolve("jre"), cached, StandardCopyOption.ATOMIC_MOVE);
      AtomicVolume.deleteTree(tmp);
    }
    return cached;
  }

  private static void copyTree(Path from, Path to) throws IOException {
    try (Stream<Path> walk = Files.walk(from)) {
      for (Path p : walk.toList()) {
        Path target = to.resolve(from.relativize(p).toString());
        if (Files.isSymbolicLink(p)) {
          Files.createSymbolicLink(target, Files.readSymbolicLink(p));
        } else if (Files.isDirectory(p)) {
          Files.createDirectories(target);
        } else {
          link(p, target);
        }
      }
    }
  }

  private static void link(Path from, Path to) throws IOException {
    Files.deleteIfExists(to);
    try {
      Files.createLink(to, from);
    } catch (IOException | UnsupportedOperationException e) {
      Files.copy(from, to, StandardCopyOption.COPY_ATTRIBUTES);
    }
  }
}
