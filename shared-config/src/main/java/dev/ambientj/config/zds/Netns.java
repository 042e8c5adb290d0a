package dev.ambientj.config.zds;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Network-namespace file descriptors: open, validate ({@code ioctl NS_GET_NSTYPE}), enter
 * ({@code setns}) and close; plus {@code setsockopt} on a raw socket descriptor. {@code setns}
 * changes the namespace of the calling thread only, so callers run it on a dedicated platform
 * thread and switch back before the thread does anything else.
 */
public final class Netns {
  /** {@code SOL_SOCKET} options ztunnel sets on every socket it creates in a pod. */
  public static final int SOL_SOCKET = Libc.SOL_SOCKET;
  public static final int SO_REUSEPORT = 15;
  public static final int SO_MARK = 36;

  private Netns() {}

  /** Opens {@code path} (e.g. {@code /var/run/netns/x}, {@code /proc/thread-self/ns/net}). */
  public static int open(Path path) throws IOException {
    return Libc.open(path.toString(), Libc.O_RDONLY | Libc.O_CLOEXEC);
  }

  /** Throws unless {@code fd} refers to a network namespace. */
  public static void checkNetwork(int fd) throws IOException {
    int type = Libc.namespaceType(fd);
    if (type != Libc.CLONE_NEWNET) {
      throw new IOException("descriptor " + fd + " is a namespace of type 0x"
          + Integer.toHexString(type) + ", not a network namespace");
    }
  }

  /** Moves the calling thread into the network namespace {@code fd}. */
  public static void enter(int fd) throws IOException {
    Libc.setns(fd, Libc.CLONE_NEWNET);
  }

  public static void close(int fd) {
    Libc.close(fd);
  }

  /**
   * Makes the kernel give every new connection of {@code fd}'s {@code SO_REUSEPORT} group to the
   * socket that joined it {@code index}-th (0 = the oldest): a listener handing over to a successor
   * steers new connections away from itself before it closes, so that none is left in its accept
   * queue to be reset. {@code SO_ATTACH_REUSEPORT_CBPF}; Linux.
   */
  public static void steerReusePortGroup(int fd, int index) throws IOException {
    Libc.steerReusePortGroup(fd, index);
  }

  /** {@code setsockopt(fd, level, name, &value, 4)}. */
  public static void setIntOption(int fd, int level, int name, int value) throws IOException {
    Libc.setIntOption(fd, level, name, value);
  }
}
