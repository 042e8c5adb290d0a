package dev.ambientj.cni.install;

import dev.ambientj.cni.plugin.JsonCodec;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Chains the ambientj plugin into the node's CNI network configuration, as istio-cni's installer
 * does: the executable goes into the CNI bin directory, and an entry {@code {"type": <plugin>,
 * ...config}} at the end of the {@code plugins} of the network configuration the container
 * runtime uses.
 *
 * <p>Which configuration: the one the runtime picks (libcni {@code ConfFiles}, then the first):
 * the lexically first regular file in the net directory named {@code *.conflist}, {@code *.conf}
 * or {@code *.json}, names compared byte by byte. A {@code .conf}/{@code .json} holds a single
 * plugin; it becomes {@code <same name>.conflist} with {@code cniVersion}, {@code name} and a
 * {@code plugins} array holding the original object whole (libcni's {@code ConfListFromConf}),
 * and the single-plugin file is deleted only after the list is in place — its name sorts first,
 * so the runtime reads the old file until then and the new one after, never neither.
 *
 * <p>Invariants:
 *
 * <ul>
 *   <li>Every write is a temporary file in the target's directory, flushed to disk, then renamed
 *       over the target: the runtime (which watches the directory) sees the old file or the new
 *       one, never half of one. Temporary names end in {@code .tmp}, which the runtime ignores.
 *   <li>Nothing is written when nothing changes: a second {@link #install} leaves the file byte
 *       for byte as it was (and its mtime too, so runtime watchers are not woken).
 *   <li>Other members and plugins are kept as values: the file is re-serialised (two-space
 *       indentation), so whitespace and escapes may change on the first write, values do not.
 *   <li>The executable is in the bin directory before the configuration names it.
 * </ul>
 *
 * <p>Not coordinated with other writers of the same file (e.g. the primary plugin's own installer
 * rewriting it): the last rename wins, and a caller that must survive that re-runs {@link #install}
 * when the directory changes.
 */
public final class CniConfInstaller {
  private static final String CONFLIST = ".conflist";
  private static final String[] EXTENSIONS = {CONFLIST, ".conf", ".json"};
  private static final Set<PosixFilePermission> EXECUTABLE =
      PosixFilePermissions.fromString("rwxr-xr-x");
  private static final Set<PosixFilePermission> CONFIG = PosixFilePermissions.fromString("rw-r--r--");

  private CniConfInstaller() {}

  /**
   * What an install or uninstall did.
   *
   * @param file the network configuration it looked at (after a conversion, the new
   *     {@code .conflist})
   * @param written whether that file was rewritten (false: it already was as wanted)
   */
  public record Change(Path file, boolean written) {}

  /**
   * Copies the plugin executable into {@code binDir} as {@code pluginName} (skipped when
   * {@code pluginSource} is null or the copy there is already identical and mode 0755), then
   * makes sure the primary network configuration in {@code netDir} ends with {@code {"type":
   * pluginName, ...pluginConfig}}.
   *
   * <p>An entry of type {@code pluginName} already in the list is left where it is; it is
   * rewritten only when its value differs from the wanted one (an upgrade changed a setting), and
   * extra entries of that type are dropped.
   *
   * @param pluginConfig the entry's other members (String, Boolean, numbers, Map, List, null);
   *     iteration order is the order written, so pass a {@code LinkedHashMap} for a stable file
   * @throws CniConfException no configuration in {@code netDir}, one that is not JSON, a
   *     {@code .conflist} without a {@code plugins} array, a single-plugin file without a
   *     {@code type}, or a missing plugin source; the message names the file
   * @throws IOException the file system failed otherwise
   */
  public static Change install(
      Path netDir, Path binDir, Path pluginSource, String pluginName, Map<String, Object> pluginConfig)
      throws IOException {
    checkName(pluginName);
    Map<String, Object> wanted = new LinkedHashMap<>();
    wanted.put("type", pluginName);
    if (pluginConfig != null) {
      for (Map.Entry<String, Object> e : pluginConfig.entrySet()) {
        if (e.getKey().equals("type") && !pluginName.equals(e.getValue())) {
          throw new IllegalArgumentException(
              "pluginConfig.type: " + e.getValue() + " (expected: absent or \"" + pluginName + "\")");
        }
        wanted.put(e.getKey(), e.getValue());
      }
    }
    JsonCodec.encode(wanted); // fails here, before any file is touched, on a value JSON cannot hold
    if (pluginSource != null) {
      copyExecutable(pluginSource, binDir, pluginName);
    }

    Path file = findPrimary(netDir);
    Map<String, Object> root = read(file);
    Path target = file;
    List<Object> plugins;
    if (isConfList(file)) {
      plugins = pluginsOf(file, root);
    } else {
      root = toConfList(file, root);
      plugins = pluginsOf(file, root);
      target = conflistPathFor(file);
      if (Files.exists(target)) {
        throw new CniConfException(
            file, "cannot convert it into a .conflist: " + target.getFileName() + " already exists");
      }
    }

    int first = -1;
    int count = 0;
    for (int i = 0; i < plugins.size(); i++) {
      if (isOurs(plugins.get(i), pluginName)) {
        first = first < 0 ? i : first;
        count++;
      }
    }
    if (target == file && count == 1 && JsonCodec.sameValue(plugins.get(first), wanted)) {
      return new Change(file, false);
    }
    for (int i = plugins.size() - 1; i >= 0; i--) {
      if (isOurs(plugins.get(i), pluginName)) {
        plugins.remove(i);
      }
    }
    plugins.add(first < 0 ? plugins.size() : first, wanted);

    writeAtomically(target, JsonCodec.encode(root) + "\n", permissionsOf(file));
    if (target != file) {
      Files.deleteIfExists(file);
    }
    return new Change(target, true);
  }

  /**
   * Removes every entry of type {@code pluginName} from the primary network configuration in
   * {@code netDir}; everything else stays. A single-plugin file is left alone (it cannot hold our
   * entry); a list converted by {@link #install} stays a {@code .conflist}. The executable stays
   * in the bin directory: pods created with the chained configuration still need it for their
   * DEL.
   *
   * @throws CniConfException as for {@link #install}; the message names the file
   */
  public static Change uninstall(Path netDir, String pluginName) throws IOException {
    checkName(pluginName);
    Path file = findPrimary(netDir);
    Map<String, Object> root = read(file);
    if (!isConfList(file)) {
      return new Change(file, false);
    }
    List<Object> plugins = pluginsOf(file, root);
    boolean removed = false;
    for (int i = plugins.size() - 1; i >= 0; i--) {
      if (isOurs(plugins.get(i), pluginName)) {
        plugins.remove(i);
        removed = true;
      }
    }
    if (!removed) {
      return new Change(file, false);
    }
    writeAtomically(file, JsonCodec.encode(root) + "\n", permissionsOf(file));
    return new Change(file, true);
  }

  /** The configuration file the runtime uses: see the class comment. */
  static Path findPrimary(Path netDir) throws IOException {
    Path first = null;
    byte[] firstName = null;
    try (DirectoryStream<Path> dir = Files.newDirectoryStream(netDir)) {
      for (Path p : dir) {
        String name = p.getFileName().toString();
        if (!hasConfigExtension(name) || !Files.isRegularFile(p)) {
          continue;
        }
        byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
        if (first == null || Arrays.compareUnsigned(bytes, firstName) < 0) {
          first = p;
          firstName = bytes;
        }
      }
    } catch (NoSuchFileException | NotDirectoryException e) {
      throw new CniConfException(netDir, "no such directory (expected: the node's CNI net.d)", e);
    }
    if (first == null) {
      throw new CniConfException(
          netDir,
          "no CNI network configuration (*.conflist, *.conf, *.json) — has the cluster's network"
              + " plugin written its configuration yet?");
    }
    return first;
  }

  private static Map<String, Object> read(Path file) throws IOException {
    String text;
    try {
      text = Files.readString(file);
    } catch (CharacterCodingException e) {
      throw new CniConfException(file, "not valid UTF-8", e);
    }
    try {
      return JsonCodec.decodeObject(text);
    } catch (JsonCodec.MalformedJsonException e) {
      throw new CniConfException(file, "not a valid JSON object: " + e.getMessage(), e);
    }
  }

  @SuppressWarnings("unchecked")
  private static List<Object> pluginsOf(Path file, Map<String, Object> list) throws CniConfException {
    Object plugins = list.get("plugins");
    if (!(plugins instanceof List)) {
      throw new CniConfException(
          file,
          "plugins: " + (plugins == null ? "missing" : JsonCodec.encode(plugins))
              + " (expected: the array of chained plugin configurations)");
    }
    return (List<Object>) plugins;
  }

  /** libcni's {@code ConfListFromConf}: the single plugin, whole, as the list's only element. */
  private static Map<String, Object> toConfList(Path file, Map<String, Object> conf)
      throws CniConfException {
    Object type = conf.get("type");
    if (!(type instanceof String t) || t.isEmpty()) {
      throw new CniConfException(
          file,
          "type: " + (type == null ? "missing" : JsonCodec.encode(type))
              + " (expected: a single plugin's configuration; a list of plugins belongs in a"
              + " .conflist file)");
    }
    Map<String, Object> list = new LinkedHashMap<>();
    if (conf.containsKey("cniVersion")) {
      list.put("cniVersion", conf.get("cniVersion"));
    }
    if (conf.containsKey("name")) {
      list.put("name", conf.get("name"));
    }
    List<Object> plugins = new ArrayList<>();
    plugins.add(conf);
    list.put("plugins", plugins);
    return list;
  }

  /** Copies {@code source} to {@code binDir/name}, mode 0755; false when it already was there. */
  static boolean copyExecutable(Path source, Path binDir, String name) throws IOException {
    if (!Files.isRegularFile(source)) {
      throw new CniConfException(source, "no such file (expected: the plugin executable to install)");
    }
    Path target = binDir.resolve(name);
    if (Files.isRegularFile(target)
        && Files.mismatch(source, target) == -1L
        && isExecutable(target)) {
      return false;
    }
    // A rename, not a copy over the target: the runtime may be executing the old file right now
    // (writing into a running executable fails with ETXTBSY), and must never run half a file.
    Path tmp = tempFileBeside(target);
    try {
      Files.copy(source, tmp, StandardCopyOption.REPLACE_EXISTING);
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
        ch.force(true);
      }
      setPermissions(tmp, EXECUTABLE);
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } finally {
      Files.deleteIfExists(tmp);
    }
    return true;
  }

  private static void writeAtomically(Path target, String content, Set<PosixFilePermission> mode)
      throws IOException {
    Path tmp = tempFileBeside(target);
    try {
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
        ByteBuffer buf = ByteBuffer.wrap(content.getBytes(StandardCharsets.UTF_8));
        while (buf.hasRemaining()) {
          ch.write(buf);
        }
        ch.force(true);
      }
      setPermissions(tmp, mode);
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /** {@code .<name>.<random>.tmp}: an extension neither libcni nor the runtime will load. */
  private static Path tempFileBeside(Path target) throws IOException {
    Path dir = target.toAbsolutePath().getParent();
    return Files.createTempFile(dir, "." + target.getFileName() + ".", ".tmp");
  }

  private static Set<PosixFilePermission> permissionsOf(Path file) throws IOException {
    try {
      return Files.getPosixFilePermissions(file);
    } catch (UnsupportedOperationException e) {
      return CONFIG;
    }
  }

  private static void setPermissions(Path file, Set<PosixFilePermission> mode) throws IOException {
    try {
      Files.setPosixFilePermissions(file, mode);
    } catch (UnsupportedOperationException e) {
      file.toFile().setReadable(true, false);
      file.toFile().setExecutable(mode.contains(PosixFilePermission.OWNER_EXECUTE), false);
    }
  }

  private static boolean isExecutable(Path file) throws IOException {
    try {
      return Files.getPosixFilePermissions(file).equals(EXECUTABLE);
    } catch (UnsupportedOperationException e) {
      return Files.isExecutable(file);
    }
  }

  private static boolean isOurs(Object plugin, String pluginName) {
    return plugin instanceof Map<?, ?> m && pluginName.equals(m.get("type"));
  }

  private static boolean isConfList(Path file) {
    return file.getFileName().toString().endsWith(CONFLIST);
  }

  private static boolean hasConfigExtension(String name) {
    for (String ext : EXTENSIONS) {
      if (name.endsWith(ext)) {
        return true;
      }
    }
    return false;
  }

  private static Path conflistPathFor(Path file) {
    String name = file.getFileName().toString();
    return file.resolveSibling(name.substring(0, name.lastIndexOf('.')) + CONFLIST);
  }

  private static void checkName(String pluginName) {
    if (pluginName == null || pluginName.isEmpty() || pluginName.contains("/")
        || pluginName.startsWith(".")) {
      throw new IllegalArgumentException(
          "pluginName: " + pluginName + " (expected: the executable's file name in the CNI bin"
              + " directory)");
    }
  }
}
