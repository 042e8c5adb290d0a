package dev.ambientj.config.zds;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One connected {@code SOCK_SEQPACKET} Unix socket: message boundaries are kept, so every
 * {@link #send} is one {@link #receive} on the other side. A message may carry one file descriptor
 * ({@code SCM_RIGHTS}).
 *
 * <p>Design note. Calls block the calling thread (ZDS runs on its own platform threads, never on
 * an event loop); {@link #setTimeouts} bounds them. {@link #close()} from another thread shuts the
 * socket down first, so a thread blocked in {@link #receive} returns with an exception. A received
 * descriptor is opened with {@code MSG_CMSG_CLOEXEC} and belongs to the caller, who must close it.
 * A truncated message or truncated control data ({@code MSG_TRUNC}/{@code MSG_CTRUNC}) and more
 * than one descriptor are protocol errors: every descriptor that did arrive is closed and an
 * {@link IOException} thrown.
 */
public final class SeqPacketSocket implements AutoCloseable {
  /** ztunnel's read buffer for one ZDS message. */
  public static final int MAX_MESSAGE = 1024;
  private static final int CMSG_HEADER = 16; // cmsg_len (size_t), level, type
  private static final int CONTROL_SPACE = 64; // room for several fds so that extra ones are seen

  private final int fd;
  private final AtomicBoolean closed = new AtomicBoolean();
  /** Calls using {@link #fd} right now; the descriptor is closed only once none is (see close). */
  private final java.util.concurrent.atomic.AtomicInteger users = new java.util.concurrent.atomic.AtomicInteger();
  private final AtomicBoolean released = new AtomicBoolean();

  SeqPacketSocket(int fd) {
    this.fd = fd;
  }

  /** Connects to the listening socket at {@code path}. */
  public static SeqPacketSocket connect(Path path) throws IOException {
    int fd = Libc.socket(Libc.AF_UNIX, Libc.SOCK_SEQPACKET | Libc.SOCK_CLOEXEC, 0);
    try {
      Libc.connect(fd, path.toString());
      return new SeqPacketSocket(fd);
    } catch (IOException | RuntimeException e) {
      Libc.close(fd);
      throw e;
    }
  }

  /** A message and the descriptor that came with it ({@code -1} if none; the caller closes it). */
  public record Received(byte[] data, int fd) {
    public boolean hasFd() {
      return fd >= 0;
    }
  }

  /** Read and write deadlines; a call that waits longer throws ({@code Duration.ZERO}: none). */
  public void setTimeouts(Duration timeout) throws IOException {
    acquire();
    try {
      Libc.setTimeout(fd, Libc.SO_RCVTIMEO, timeout.toMillis());
      Libc.setTimeout(fd, Libc.SO_SNDTIMEO, timeout.toMillis());
    } finally {
      release();
    }
  }

  /** Marks a call in flight on {@link #fd}; throws once the socket is closed. */
  private void acquire() throws IOException {
    users.incrementAndGet();
    if (closed.get()) {
      release();
      throw new IOException(this + " is closed");
    }
  }

  private void release() {
    if (users.decrementAndGet() == 0 && closed.get() && released.compareAndSet(false, true)) {
      Libc.close(fd);
    }
  }

  /** Sends {@code data} as one message, with {@code passFd} attached unless it is negative. */
  public void send(byte[] data, int passFd) throws IOException {
    acquire();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment buf = a.allocate(Math.max(1, data.length));
      MemorySegment.copy(data, 0, buf, ValueLayout.JAVA_BYTE, 0, data.length);
      MemorySegment iov = a.allocate(16, 8);
      iov.set(ValueLayout.ADDRESS, 0, buf);
      iov.set(ValueLayout.JAVA_LONG, 8, data.length);
      MemorySegment msg = a.allocate(56, 8);
      msg.set(ValueLayout.ADDRESS, 16, iov);
      msg.set(ValueLayout.JAVA_LONG, 24, 1);
      if (passFd >= 0) {
        MemorySegment control = a.allocate(24, 8); // CMSG_SPACE(sizeof(int))
        control.set(ValueLayout.JAVA_LONG, 0, CMSG_HEADER + 4); // CMSG_LEN(sizeof(int))
        control.set(ValueLayout.JAVA_INT, 8, Libc.SOL_SOCKET);
        control.set(ValueLayout.JAVA_INT, 12, Libc.SCM_RIGHTS);
        control.set(ValueLayout.JAVA_INT, 16, passFd);
        msg.set(ValueLayout.ADDRESS, 32, control);
        msg.set(ValueLayout.JAVA_LONG, 40, control.byteSize());
      }
      while (true) {
        MemorySegment e = Libc.errnoSlot(a);
        long n = Libc.sendmsg(fd, msg, Libc.MSG_NOSIGNAL, e);
        if (n >= 0) {
          return;
        }
        if (Libc.errno(e) != Libc.EINTR) {
          throw Libc.failure("sendmsg", e);
        }
      }
    } catch (IOException | RuntimeException | Error x) {
      throw x;
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    } finally {
      release();
    }
  }

  /**
   * Receives one message of at most {@link #MAX_MESSAGE} bytes. Returns null when the peer closed
   * the connection; throws on a timeout ({@link #isTimeout}), an error or a protocol violation.
   */
  public Received receive() throws IOException {
    acquire();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment buf = a.allocate(MAX_MESSAGE);
      MemorySegment iov = a.allocate(16, 8);
      iov.set(ValueLayout.ADDRESS, 0, buf);
      iov.set(ValueLayout.JAVA_LONG, 8, MAX_MESSAGE);
      MemorySegment control = a.allocate(CONTROL_SPACE, 8);
      MemorySegment msg = a.allocate(56, 8);
      long n;
      while (true) {
        msg.fill((byte) 0);
        msg.set(ValueLayout.ADDRESS, 16, iov);
        msg.set(ValueLayout.JAVA_LONG, 24, 1);
        msg.set(ValueLayout.ADDRESS, 32, control);
        msg.set(ValueLayout.JAVA_LONG, 40, CONTROL_SPACE);
        MemorySegment e = Libc.errnoSlot(a);
        n = Libc.recvmsg(fd, msg, Libc.MSG_CMSG_CLOEXEC, e);
        if (n >= 0) {
          break;
        }
        if (Libc.errno(e) != Libc.EINTR) {
          throw Libc.failure("recvmsg", e);
        }
      }
      int flags = msg.get(ValueLayout.JAVA_INT, 48);
      long controlLen = msg.get(ValueLayout.JAVA_LONG, 40);
      int[] fds = collectFds(control, controlLen);
      if ((flags & (Libc.MSG_TRUNC | Libc.MSG_CTRUNC)) != 0 || fds.length > 1) {
        for (int f : fds) {
          Libc.close(f);
        }
        throw new IOException((flags & Libc.MSG_TRUNC) != 0
            ? "ZDS message longer than " + MAX_MESSAGE + " bytes (truncated)"
            : (flags & Libc.MSG_CTRUNC) != 0 ? "ZDS control data truncated (too many descriptors)"
            : "ZDS message carried " + fds.length + " descriptors (expected at most one)");
      }
      if (n == 0 && fds.length == 0) {
        return null; // orderly shutdown: every ZDS message encodes to at least two bytes
      }
      return new Received(buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE),
          fds.length == 1 ? fds[0] : -1);
    } catch (IOException | RuntimeException | Error x) {
      throw x;
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    } finally {
      release();
    }
  }

  private static int[] collectFds(MemorySegment control, long len) {
    java.util.List<Integer> fds = new java.util.ArrayList<>();
    long off = 0;
    while (off + CMSG_HEADER <= len) {
      long cmsgLen = control.get(ValueLayout.JAVA_LONG, off);
      if (cmsgLen < CMSG_HEADER || off + cmsgLen > len) {
        break;
      }
      int level = control.get(ValueLayout.JAVA_INT, off + 8);
      int type = control.get(ValueLayout.JAVA_INT, off + 12);
      if (level == Libc.SOL_SOCKET && type == Libc.SCM_RIGHTS) {
        for (long p = off + CMSG_HEADER; p + 4 <= off + cmsgLen; p += 4) {
          fds.add(control.get(ValueLayout.JAVA_INT, p));
        }
      }
      off += (cmsgLen + 7) & ~7L;
    }
    return fds.stream().mapToInt(Integer::intValue).toArray();
  }

  /** Whether {@code e} is a read/write deadline expiring (the connection is still usable). */
  public static boolean isTimeout(IOException e) {
    return e instanceof Libc.ErrnoException x && x.errno == Libc.EAGAIN;
  }

  @Override
  /**
   * Closes the socket; any thread. A call blocked on it is woken ({@code shutdown}) and the
   * descriptor is closed only after the last call in flight returns: a closed descriptor's number
   * is reused at once, and a late {@code recvmsg} on it would read another socket's messages.
   */
  public void close() {
    if (closed.compareAndSet(false, true)) {
      Libc.shutdown(fd);
      if (users.get() == 0 && released.compareAndSet(false, true)) {
        Libc.close(fd);
      }
    }
  }

  @Override
  public String toString() {
    return "seqpacket fd " + fd;
  }
}
