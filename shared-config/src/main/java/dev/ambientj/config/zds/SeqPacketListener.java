package dev.ambientj.config.zds;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A listening {@code SOCK_SEQPACKET} Unix socket at a path. A stale socket file left by an
 * earlier process is replaced. {@link #accept()} blocks; {@link #close()} from another thread
 * wakes it with an exception and removes the file.
 */
public final class SeqPacketListener implements AutoCloseable {
  private final int fd;
  private final Path path;
  private final AtomicBoolean closed = new AtomicBoolean();

  private SeqPacketListener(int fd, Path path) {
    this.fd = fd;
    this.path = path;
  }

  public static SeqPacketListener bind(Path path) throws IOException {
    if (path.getParent() != null) {
      Files.createDirectories(path.getParent());
    }
    Files.deleteIfExists(path);
    int fd = Libc.socket(Libc.AF_UNIX, Libc.SOCK_SEQPACKET | Libc.SOCK_CLOEXEC, 0);
    try {
      Libc.bind(fd, path.toString());
      Libc.listen(fd, 16);
      return new SeqPacketListener(fd, path);
    } catch (IOException | RuntimeException e) {
      Libc.close(fd);
      throw e;
    }
  }

  public Path path() {
    return path;
  }

  /** Waits for the next connection. */
  public SeqPacketSocket accept() throws IOException {
    return new SeqPacketSocket(Libc.accept(fd));
  }

  @Override
  public void close() {
    if (closed.compareAndSet(false, true)) {
      Libc.shutdown(fd); // wakes a thread blocked in accept
      Libc.close(fd);
      try {
        Files.deleteIfExists(path);
      } catch (IOException ignored) {
        // a leftover file is replaced by the next bind
      }
    }
  }
}
