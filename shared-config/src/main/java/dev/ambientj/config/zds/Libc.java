package dev.ambientj.config.zds;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * The few libc calls ZDS needs, through the FFM API (x86_64/aarch64 Linux layouts). Every call
 * captures {@code errno}; a failure becomes an {@link IOException} naming the call and the errno.
 * Thread-safe (method handles are immutable; each call allocates in its own confined arena).
 */
final class Libc {
  static final int AF_UNIX = 1;
  static final int SOCK_SEQPACKET = 5;
  static final int SOCK_CLOEXEC = 0x80000;
  static final int O_RDONLY = 0;
  static final int O_CLOEXEC = 0x80000;
  static final int SOL_SOCKET = 1;
  static final int SCM_RIGHTS = 1;
  static final int SO_RCVTIMEO = 20;
  static final int SO_SNDTIMEO = 21;
  static final int SO_ATTACH_REUSEPORT_CBPF = 51;
  static final int MSG_TRUNC = 0x20;
  static final int MSG_CTRUNC = 0x08;
  static final int MSG_NOSIGNAL = 0x4000;
  static final int MSG_CMSG_CLOEXEC = 0x40000000;
  static final int SHUT_RDWR = 2;
  static final int CLONE_NEWNET = 0x40000000;
  static final long NS_GET_NSTYPE = 0xb703L; // _IO(0xb7, 0x3)
  static final int EINTR = 4;
  static final int EAGAIN = 11;
  static final int ENOENT = 2;

  private static final Linker LINKER = Linker.nativeLinker();
  private static final SymbolLookup LIBC = LINKER.defaultLookup();
  private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
  private static final VarHandle ERRNO =
      CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));

  private static final ValueLayout I = ValueLayout.JAVA_INT;
  private static final ValueLayout L = ValueLayout.JAVA_LONG;
  private static final ValueLayout P = ValueLayout.ADDRESS;

  private static final MethodHandle SOCKET = handle("socket", FunctionDescriptor.of(I, I, I, I));
  private static final MethodHandle BIND = handle("bind", FunctionDescriptor.of(I, I, P, I));
  private static final MethodHandle LISTEN = handle("listen", FunctionDescriptor.of(I, I, I));
  private static final MethodHandle ACCEPT4 = handle("accept4", FunctionDescriptor.of(I, I, P, P, I));
  private static final MethodHandle CONNECT = handle("connect", FunctionDescriptor.of(I, I, P, I));
  private static final MethodHandle SENDMSG = handle("sendmsg", FunctionDescriptor.of(L, I, P, I));
  private static final MethodHandle RECVMSG = handle("recvmsg", FunctionDescriptor.of(L, I, P, I));
  private static final MethodHandle CLOSE = handle("close", FunctionDescriptor.of(I, I));
  private static final MethodHandle SHUTDOWN = handle("shutdown", FunctionDescriptor.of(I, I, I));
  private static final MethodHandle SETSOCKOPT =
      handle("setsockopt", FunctionDescriptor.of(I, I, I, I, P, I));
  private static final MethodHandle OPEN = handle("open", FunctionDescriptor.of(I, P, I));
  private static final MethodHandle IOCTL = handle("ioctl", FunctionDescriptor.of(I, I, L));
  private static final MethodHandle SETNS = handle("setns", FunctionDescriptor.of(I, I, I));

  private Libc() {}

  @SuppressWarnings("restricted")
  private static MethodHandle handle(String name, FunctionDescriptor fd) {
    return LIBC.find(name)
        .map(s -> LINKER.downcallHandle(s, fd, Linker.Option.captureCallState("errno")))
        .orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
  }

  /** A fresh capture segment for one call. */
  static MemorySegment errnoSlot(Arena arena) {
    return arena.allocate(CAPTURE);
  }

  static int errno(MemorySegment slot) {
    return (int) ERRNO.get(slot, 0L);
  }

  static IOException failure(String call, MemorySegment slot) {
    int e = errno(slot);
    return new ErrnoException(call + " failed: " + describe(e) + " (errno " + e + ")", e);
  }

  static String describe(int errno) {
    return switch (errno) {
      case 1 -> "operation not permitted";
      case 2 -> "no such file or directory";
      case 4 -> "interrupted";
      case 9 -> "bad file descriptor";
      case 11 -> "timed out / would block";
      case 13 -> "permission denied";
      case 22 -> "invalid argument";
      case 25 -> "not a namespace file";
      case 32 -> "broken pipe (peer closed)";
      case 98 -> "address in use";
      case 104 -> "connection reset by peer";
      case 111 -> "connection refused (no server listening)";
      default -> "error";
    };
  }

  /** An {@link IOException} that keeps the errno for callers that branch on it. */
  static final class ErrnoException extends IOException {
    final int errno;

    ErrnoException(String message, int errno) {
      super(message);
      this.errno = errno;
    }
  }

  static int socket(int domain, int type, int protocol) throws IOException {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment e = errnoSlot(a);
      int fd = (int) SOCKET.invokeExact(e, domain, type, protocol);
      if (fd < 0) {
        throw failure("socket", e);
      }
      return fd;
    } catch (IOException | RuntimeException | Error x) {
      throw x;
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }

  /** A {@code sockaddr_un} for {@code path} (at most 107 bytes). */
  static MemorySegment unixAddress(Arena arena, String path) {
    byte[] p = path.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    if (p.length > 107) {
      throw new IllegalArgumentException("unix socket path longer than 107 bytes: " + path);
    }
    MemorySegment sa = arena.allocate(110);
    sa.set(ValueLayout.JAVA_SHORT, 0, (short) AF_UNIX);
    MemorySegment.copy(p, 0, sa, ValueLayout.JAVA_BYTE, 2, p.length);
    return sa;
  }

  static void bind(int fd, String path) throws IOException {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment e = errnoSlot(a);
      MemorySegment sa = unixAddress(a, path);
      if ((int) BIND.invokeExact(e, fd, sa, (int) sa.byteSize()) != 0) {
        throw failure("bind " + path, e);
      }
    } catch (IOException | RuntimeException | Error x) {
      throw x;
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }

  static void listen(int fd, int backlog) throws IOException {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment e = errnoSlot(a);
      if ((int) LISTEN.invokeExact(e, fd, backlog) != 0) {
        throw failure("listen", e);
      }
    } catch (IOException | RuntimeException | Error x) {
      throw x;
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }

  static int accept(int fd) throws IOException {
    try (Arena a = Arena.ofConfined()) {
      while (true) {
        MemorySegment e = errnoSlot(a);
        int c = (int) ACCEPT4.invokeExact(e, fd, MemorySegment.NULL, MemorySegment.NULL, SOCK_CLOEXEC);
        if (c >= 0) {
          return c;
        }
        if (errno(e) != EINTR) {
          throw failure("accept", e);
        }
      }
    } catch (IOException | RuntimeException | Error x) {
      throw x;
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }

  static void connect(int fd, String path) throws IOException {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment e = errnoSlot(a);
      MemorySegment sa = unixAddress(a, path);
      if ((int) CONNECT.invokeExact(e, fd, sa, (int) sa.byteSize()) != 0) {
        throw failure("connect " + path, e);
      }
    } catch (IOException | RuntimeException | Error x) {
      throw x;
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }

  static long sendmsg(int fd, MemorySegment msghdr, int flags, MemorySegment errno) throws Throwable {
    return (long) SENDMSG.invokeExact(errno, fd, msghdr, flags);
  }

  static long recvmsg(int fd, MemorySegment msghdr, int flags, MemorySegment errno) throws Throwable {
    return (long) RECVMSG.invokeExact(errno, fd, msghdr, flags);
  }

  /** Closes {@code fd}, ignoring errors (there is nothing useful to do about them). */
  static void close(int fd) {
    if (fd < 0) {
      return;
    }
    try (Arena a = Arena.ofConfined()) {
      int ignored = (int) CLOSE.invokeExact(errnoSlot(a), fd);
    } catch (Throwable ignored) {
      // best effort
    }
  }

  static void shutdown(int fd) {
    try (Arena a = Arena.ofConfined()) {
      int ignored = (int) SHUTDOWN.invokeExact(errnoSlot(a), fd, SHUT_RDWR);
    } catch (Throwable ignored) {
      // best effort: the socket may already be closed
    }
  }

  static void setIntOption(int fd, int level, int name, int value) throws IOException {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment e = errnoSlot(a);
      MemorySegment v = a.allocate(ValueLayout.JAVA_INT);
      v.set(ValueLayout.JAVA_INT, 0, value);
      if ((int) SETSOCKOPT.invokeExact(e, fd, level, name, v, 4) != 0) {
        throw failure("setsockopt(" + level + ", " + name + ")", e);
      }
    } catch (IOException | RuntimeException | Error x) {
      throw x;
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }

  /**
   * Attaches to {@code fd}'s SO_REUSEPORT group a classic BPF program that returns {@code index}:
   * the kernel then gives every new connection to the group's socket at that index (in the order
   * they joined; an index past the end falls back to the usual hash).
   */
  static void steerReusePortGroup(int fd, int index) throws IOException {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment e = errnoSlot(a);
      // struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }: BPF_RET | BPF_K, k = index
      MemorySegment insn = a.allocate(8, 8);
      insn.set(ValueLayout.JAVA_SHORT, 0, (short) 0x06);
      insn.set(ValueLayout.JAVA_INT, 4, index);
      // struct sock_fprog { unsigned short len; struct sock_filter *filter; }
      MemorySegment prog = a.allocate(16, 8);
      prog.set(ValueLayout.JAVA_SHORT, 0, (short) 1);
      prog.set(ValueLayout.ADDRESS, 8, insn);
      if ((int) SETSOCKOPT.invokeExact(e, fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, prog, 16) != 0) {
        throw failure("setsockopt(SO_ATTACH_REUSEPORT_CBPF)", e);
      }
    } catch (IOException | RuntimeException | Error x) {
      throw x;
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }

  static void setTimeout(int fd, int option, long millis) throws IOException {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment e = errnoSlot(a);
      MemorySegment tv = a.allocate(16, 8);
      tv.set(ValueLayout.JAVA_LONG, 0, millis / 1000);
      tv.set(ValueLayout.JAVA_LONG, 8, (millis % 1000) * 1000);
      if ((int) SETSOCKOPT.invokeExact(e, fd, SOL_SOCKET, option, tv, 16) != 0) {
        throw failure("setsockopt(timeout)", e);
      }
    } catch (IOException | RuntimeException | Error x) {
      throw x;
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }

  static int open(String path, int flags) throws IOException {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment e = errnoSlot(a);
      int fd = (int) OPEN.invokeExact(e, a.allocateFrom(path), flags);
      if (fd < 0) {
        throw failure("open " + path, e);
      }
      return fd;
    } catch (IOException | RuntimeException | Error x) {
      throw x;
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }

  /** {@code ioctl(fd, NS_GET_NSTYPE)}: the CLONE_NEW* type of a namespace fd. */
  static int namespaceType(int fd) throws IOException {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment e = errnoSlot(a);
      int t = (int) IOCTL.invokeExact(e, fd, NS_GET_NSTYPE);
      if (t < 0) {
        throw failure("ioctl(NS_GET_NSTYPE)", e);
      }
      return t;
    } catch (IOException | RuntimeException | Error x) {
      throw x;
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }

  static void setns(int fd, int type) throws IOException {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment e = errnoSlot(a);
      if ((int) SETNS.invokeExact(e, fd, type) != 0) {
        throw failure("setns", e);
      }
    } catch (IOException | RuntimeException | Error x) {
      throw x;
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }
}
