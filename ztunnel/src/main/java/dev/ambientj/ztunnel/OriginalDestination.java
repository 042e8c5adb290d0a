package dev.ambientj.ztunnel;

import io.netty.channel.Channel;
import io.netty.channel.unix.UnixChannel;
import io.netty.util.concurrent.FastThreadLocal;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteOrder;

/**
 * Reads {@code SO_ORIGINAL_DST} (IPv4) / {@code IP6T_SO_ORIGINAL_DST} (IPv6) — the address a
 * connection was sent to before an iptables/nftables REDIRECT — with one {@code getsockopt} through
 * the FFM API. Only native (epoll, io_uring) channels expose their descriptor; NIO yields null.
 * Without a conntrack entry (no redirect) the kernel answers {@code ENOENT} and this returns null.
 */
final class OriginalDestination {
  private static final int SOL_IP = 0;
  private static final int SOL_IPV6 = 41;
  private static final int SO_ORIGINAL_DST = 80;

  private static final MethodHandle GETSOCKOPT = lookupGetsockopt();

  /**
   * Per thread (the accepting event loop), the sockaddr and length buffers: an arena per accept
   * cost a malloc and free each (JFR, the bench's new-connection step). Freed with the thread.
   */
  private static final FastThreadLocal<MemorySegment> SCRATCH = new FastThreadLocal<>() {
    @Override
    protected MemorySegment initialValue() {
      return Arena.ofAuto().allocate(32, 8);
    }
  };

  private OriginalDestination() {}

  static InetSocketAddress lookup(Channel channel) {
    if (GETSOCKOPT == null || !(channel instanceof UnixChannel unix)
        || !(channel.localAddress() instanceof InetSocketAddress local)) {
      return null;
    }
    int fd = unix.fd().intValue();
    boolean v6 = local.getAddress() instanceof Inet6Address;
    try {
      MemorySegment scratch = SCRATCH.get();
      MemorySegment addr = scratch.asSlice(0, 28);
      MemorySegment len = scratch.asSlice(28, 4);
      len.set(ValueLayout.JAVA_INT, 0, (int) addr.byteSize());
      int rc = (int) GETSOCKOPT.invokeExact(fd, v6 ? SOL_IPV6 : SOL_IP, SO_ORIGINAL_DST, addr, len);
      if (rc != 0) {
        return null;
      }
      int port = Short.toUnsignedInt(
          addr.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN), 2));
      byte[] ip = v6 ? addr.asSlice(8, 16).toArray(ValueLayout.JAVA_BYTE)
          : addr.asSlice(4, 4).toArray(ValueLayout.JAVA_BYTE);
      return new InetSocketAddress(InetAddress.getByAddress(ip), port);
    } catch (Throwable t) { // a failed lookup falls back to the local address, never fails the accept
      return null;
    }
  }

  @SuppressWarnings("restricted")
  private static MethodHandle lookupGetsockopt() {
    try {
      Linker linker = Linker.nativeLinker();
      return linker.defaultLookup().find("getsockopt")
          .map(symbol -> linker.downcallHandle(symbol, FunctionDescriptor.of(ValueLayout.JAVA_INT,
              ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS,
              ValueLayout.ADDRESS)))
          .orElse(null);
    } catch (RuntimeException | LinkageError e) {
      return null;
    }
  }
}
