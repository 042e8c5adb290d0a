package dev.ambientj.cni.install;

import dev.ambientj.cni.agent.NodeAgent;
import dev.ambientj.cni.plugin.CniPlugin;
import dev.ambientj.cni.redirect.CommandRunner;
import dev.ambientj.cni.redirect.InpodRedirect;
import dev.ambientj.config.model.MeshSnapshot;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;
import java.util.spi.ToolProvider;
import java.util.stream.Stream;

/**
 * Builds the CNI plugin's payload, what a node without Java needs to run the plugin:
 *
 * <pre>
 *   OUT/ambientj-cni                     the executable (src/main/sh/ambientj-cni)
 *   OUT/ambientj-cni.d/ambientj-cni.jar  the plugin's classes, and nothing else
 *   OUT/ambientj-cni.d/runtime/          a runtime jlink'd from the running JDK with the modules
 *                                        jdeps finds the jar needs (java.base)
 *   OUT/ambientj-cni.d/ambientj-cni.aot  optional: an AOT cache trained by one ADD through OUT's
 *                                        own executable, so runtime and flags match a node's
 * </pre>
 *
 * <p>The one place the payload is made: the image build runs {@link #main} (launcher's {@code
 * image} profile), tests call {@link #build}. The runtime is the running JVM's, so this must run
 * on the JDK the plugin targets (25) and on the platform of the nodes (the image's).
 *
 * <p>The jar holds only the classes the plugin loads, so that jdeps checks exactly what ships: a
 * plugin class that reached for a class outside them fails the build here, not a pod's ADD.
 * Entries are sorted and dated {@link #ENTRY_TIME}, so the same classes give the same jar.
 */
public final class PluginPayloadBuilder {
  /** The executable's name in the payload and in the node's CNI bin directory. */
  public static final String EXECUTABLE = "ambientj-cni";
  static final String JAR = "ambientj-cni.jar";
  static final String AOT_CACHE = "ambientj-cni.aot";
  static final String RUNTIME = "runtime";
  /** Class-file prefixes of what the plugin loads: its package and the agent's wire protocol. */
  private static final List<String> PLUGIN_CLASSES =
      List.of("dev/ambientj/cni/plugin/", "dev/ambientj/cni/agent/AgentProtocol.class",
          "dev/ambientj/cni/agent/AgentProtocol$");
  private static final FileTime ENTRY_TIME = FileTime.fromMillis(315532800000L); // 1980-01-01Z
  private static final long TRAINING_TIMEOUT_SECONDS = 120;

  private PluginPayloadBuilder() {}

  /**
   * {@code PluginPayloadBuilder OUT SCRIPT [--no-aot-cache]}: builds the payload into {@code OUT}
   * with {@code SCRIPT} (the plugin's {@code ambientj-cni}) as its executable.
   */
  public static void main(String[] args) throws Exception {
    if (args.length < 2 || args.length > 3 || (args.length == 3 && !args[2].equals("--no-aot-cache"))) {
      System.err.println("usage: PluginPayloadBuilder OUT_DIR SCRIPT [--no-aot-cache]");
      System.exit(2);
    }
    long start = System.nanoTime();
    Path out = Path.of(args[0]);
    build(out, Path.of(args[1]), args.length == 2);
    System.err.printf("ambientj-cni payload in %s (%d MiB) in %d ms%n", out,
        sizeOf(out) >> 20, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
  }

  /**
   * Builds the payload into {@code out} (created if absent; a payload already there is replaced).
   *
   * @param script the plugin's executable ({@code cni-plugin/src/main/sh/ambientj-cni})
   * @param aotCache whether to train the AOT cache (starts a node agent on a temporary socket
   *     and runs one ADD of a pod it does not enroll)
   * @return {@code out}
   * @throws IOException jdeps, jlink or the training run failed (the message says which, with
   *     their output), or the file system did
   */
  public static Path build(Path out, Path script, boolean aotCache) throws IOException {
    Files.createDirectories(out);
    Path exe = out.resolve(EXECUTABLE);
    Path d = out.resolve(EXECUTABLE + ".d");
    deleteRecursively(exe);
    deleteRecursively(d);
    Files.createDirectories(d);
    Files.copy(script, exe);
    Files.setPosixFilePermissions(exe, PosixFilePermissions.fromString("rwxr-xr-x"));

    Path jar = d.resolve(JAR);
    writePluginJar(pluginClasses(), jar);
    String modules = run("jdeps", "--print-module-deps", jar.toString()).strip();
    run("jlink", "--add-modules", modules, "--strip-debug", "--no-man-pages", "--no-header-files",
        "--output", d.resolve(RUNTIME).toString());
    if (aotCache) {
      trainAotCache(exe, d.resolve(AOT_CACHE));
    }
    return out;
  }

  /** The directory or jar the plugin's classes are loaded from. */
  private static Path pluginClasses() throws IOException {
    try {
      return Path.of(CniPlugin.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    } catch (URISyntaxException | NullPointerException e) {
      throw new IOException("cannot locate the classes of " + CniPlugin.class.getName(), e);
    }
  }

  private static void writePluginJar(Path classes, Path jar) throws IOException {
    SortedMap<String, byte[]> entries = new TreeMap<>();
    if (Files.isDirectory(classes)) {
      try (Stream<Path> files = Files.walk(classes)) {
        for (Path f : files.filter(Files::isRegularFile).toList()) {
          String name = classes.relativize(f).toString().replace('\\', '/');
          if (isPluginClass(name)) {
            entries.put(name, Files.readAllBytes(f));
          }
        }
      }
    } else {
      try (JarFile in = new JarFile(classes.toFile())) {
        for (JarEntry e : in.stream().toList()) {
          if (!e.isDirectory() && isPluginClass(e.getName())) {
            try (InputStream s = in.getInputStream(e)) {
              entries.put(e.getName(), s.readAllBytes());
            }
          }
        }
      }
    }
    if (!entries.containsKey(CniPlugin.class.getName().replace('.', '/') + ".class")) {
      throw new IOException(classes + ": no " + CniPlugin.class.getName() + " in it");
    }
    try (OutputStream os = Files.newOutputStream(jar); JarOutputStream out = new JarOutputStream(os)) {
      for (Map.Entry<String, byte[]> e : entries.entrySet()) {
        JarEntry entry = new JarEntry(e.getKey());
        entry.setLastModifiedTime(ENTRY_TIME);
        out.putNextEntry(entry);
        out.write(e.getValue());
        out.closeEntry();
      }
    }
  }

  private static boolean isPluginClass(String name) {
    return PLUGIN_CLASSES.stream().anyMatch(name::startsWith);
  }

  /**
   * One ADD through the payload's own executable, with {@code -XX:AOTCacheOutput} added through
   * {@code JDK_JAVA_OPTIONS}: the cache is made by the runtime and with the flags a node uses.
   * The agent is the real one with an empty mesh, so it answers "not enrolled" and touches no
   * network namespace.
   */
  private static void trainAotCache(Path exe, Path cache) throws IOException {
    Path tmp = Files.createTempDirectory("ambientj-cni-training");
    Path socket = tmp.resolve("agent.sock");
    try (NodeAgent agent = NodeAgent.start(socket, MeshSnapshot::empty,
        new InpodRedirect(CommandRunner.nsenter()))) {
      ProcessBuilder pb = new ProcessBuilder(exe.toString());
      Map<String, String> env = pb.environment();
      env.clear();
      env.put("JDK_JAVA_OPTIONS", "-XX:AOTCacheOutput=" + cache);
      env.put("CNI_COMMAND", "ADD");
      env.put("CNI_CONTAINERID", "aot-training");
      env.put("CNI_NETNS", "/var/run/netns/aot-training");
      env.put("CNI_IFNAME", "eth0");
      env.put("CNI_PATH", exe.getParent().toString());
      env.put("CNI_ARGS", "K8S_POD_NAMESPACE=default;K8S_POD_NAME=aot-training");
      pb.redirectInput(ProcessBuilder.Redirect.PIPE);
      pb.redirectErrorStream(true);
      Process p = pb.start();
      try (OutputStream stdin = p.getOutputStream()) {
        stdin.write(("{\"cniVersion\":\"1.0.0\",\"name\":\"aot-training\",\"type\":\"" + EXECUTABLE
            + "\",\"agentSocket\":\"" + socket + "\",\"prevResult\":{\"cniVersion\":\"1.0.0\","
            + "\"ips\":[{\"address\":\"10.250.0.2/24\"}]}}").getBytes(StandardCharsets.UTF_8));
      }
      String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(TRAINING_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IOException("AOT cache training run of " + exe + " did not finish within "
            + TRAINING_TIMEOUT_SECONDS + " s");
      }
      if (p.exitValue() != 0 || !Files.isRegularFile(cache)) {
        throw new IOException("AOT cache training run of " + exe + " exited " + p.exitValue()
            + " without writing " + cache + ":\n" + output);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while training the AOT cache", e);
    } finally {
      deleteRecursively(tmp);
    }
  }

  /** Runs a JDK tool in this JVM; returns its standard output, or throws with all its output. */
  private static String run(String tool, String... args) throws IOException {
    ToolProvider provider = ToolProvider.findFirst(tool).orElseThrow(() -> new IOException(
        "no " + tool + " in this Java runtime (" + System.getProperty("java.home")
            + "): the payload is built by a JDK"));
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int rc;
    try (PrintWriter o = new PrintWriter(out); PrintWriter e = new PrintWriter(err)) {
      rc = provider.run(o, e, args);
    }
    if (rc != 0) {
      throw new IOException(tool + " " + String.join(" ", Arrays.asList(args)) + " exited " + rc
          + ":\n" + out + err);
    }
    return out.toString();
  }

  static long sizeOf(Path dir) throws IOException {
    try (Stream<Path> files = Files.walk(dir)) {
      long total = 0;
      for (Path f : files.filter(Files::isRegularFile).toList()) {
        total += Files.size(f);
      }
      return total;
    }
  }

  static void deleteRecursively(Path path) throws IOException {
    if (!Files.exists(path, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    Files.walkFileTree(path, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
        Files.delete(file);
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult postVisitDirectory(Path dir, IOException e) throws IOException {
        if (e != null) {
          throw e;
        }
        Files.delete(dir);
        return FileVisitResult.CONTINUE;
      }
    });
  }
}
