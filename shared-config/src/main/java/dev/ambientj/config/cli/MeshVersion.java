package dev.ambientj.config.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import picocli.CommandLine.IVersionProvider;

/**
 * What {@code mesh --version} and {@code mesh version} print: the project version and git commit
 * recorded by the build ({@value #RESOURCE}, written by shared-config's pom; {@code unknown} when
 * the tree was built without git), and the JDK running it.
 */
public final class MeshVersion implements IVersionProvider {
  /** The build's record, on the class path. */
  static final String RESOURCE = "/dev/ambientj/config/cli/build.properties";
  private static final String UNKNOWN = "unknown";

  /** version, commit, jdk, jdkVendor: in this order. */
  public static Map<String, String> fields() {
    Properties build = new Properties();
    try (InputStream in = MeshVersion.class.getResourceAsStream(RESOURCE)) {
      if (in != null) {
        build.load(in);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + RESOURCE, e);
    }
    Map<String, String> fields = new LinkedHashMap<>();
    fields.put("version", known(build.getProperty("version")));
    fields.put("commit", known(build.getProperty("commit")));
    fields.put("jdk", System.getProperty("java.runtime.version", System.getProperty("java.version")));
    fields.put("jdkVendor", System.getProperty("java.vendor"));
    return fields;
  }

  /** A value the build filled in, or {@code unknown} (no git, or an unfiltered resource). */
  private static String known(String value) {
    return value == null || value.isBlank() || value.startsWith("${") ? UNKNOWN : value.strip();
  }

  @Override
  public String[] getVersion() {
    Map<String, String> f = fields();
    return new String[] {
        "ambientj " + f.get("version") + " (git commit " + f.get("commit") + ")",
        "JDK " + f.get("jdk") + " (" + f.get("jdkVendor") + ")"};
  }
}
