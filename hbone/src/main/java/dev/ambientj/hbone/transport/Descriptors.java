package dev.ambientj.hbone.transport;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The process's file-descriptor limit ({@code RLIMIT_NOFILE}, the soft limit in force) as the
 * JVM sees it. Every socket a proxy accepts or opens takes one descriptor; the limit is what
 * connection caps are derived from, so that some descriptors are always left for the node's own
 * servers (admin, metrics, readiness) and connections the proxy needs for itself.
 *
 * <p>HotSpot raises the soft limit to the hard one at start-up ({@code -XX:+MaxFDLimit}, the
 * default), so this is normally the hard limit the process was started with (e.g. by
 * {@code ulimit -n} or a container runtime).
 */
public final class Descriptors {
  private Descriptors() {}

  /** The open-file limit of this process, or -1 if it cannot be read. */
  public static long limit() {
    if (ManagementFactory.getOperatingSystemMXBean()
        instanceof com.sun.management.UnixOperatingSystemMXBean unix) {
      long max = unix.getMaxFileDescriptorCount();
      if (max > 0) {
        return max;
      }
    }
    return limitFromProc(Path.of("/proc/self/limits"));
  }

  /** Parses the soft "Max open files" of a {@code /proc/<pid>/limits} file; -1 if absent. */
  static long limitFromProc(Path limits) {
    try {
      List<String> lines = Files.readAllLines(limits);
      for (String line : lines) {
        if (line.startsWith("Max open files")) {
          String[] fields = line.substring("Max open files".length()).trim().split("\\s+");
          return fields[0].equals("unlimited") ? Long.MAX_VALUE : Long.parseLong(fields[0]);
        }
      }
    } catch (IOException | RuntimeException e) {
      // not Linux, or no descriptor left to open the file with
    }
    return -1;
  }
}
