package dev.ambientj.hbone.transport;

import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDatagramChannel;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringDatagramChannel;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.channel.uring.IoUringSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The I/O transport: event loops and channel classes that belong together.
 *
 * <p>{@link Kind#AUTO} picks epoll, else io_uring, else NIO. Epoll comes first because it is the
 * most exercised native transport; io_uring is selectable explicitly. An explicit choice that is
 * not available on this machine falls back the same way, with a warning that says why. The choice
 * is logged once per distinct outcome.
 */
public final class Transport {

  /** A transport preference. */
  public enum Kind {
    AUTO, EPOLL, IO_URING, NIO;

    /** Parses {@code auto|epoll|io_uring|io-uring|iouring|nio}, case-insensitive. */
    public static Kind parse(String s) {
      String v = s.trim().toLowerCase(Locale.ROOT).replace('-', '_');
      return switch (v) {
        case "auto" -> AUTO;
        case "epoll" -> EPOLL;
        case "io_uring", "iouring", "uring" -> IO_URING;
        case "nio" -> NIO;
        default -> throw new IllegalArgumentException(
            "unknown transport '" + s + "' (expected one of: auto, epoll, io_uring, nio)");
      };
    }
  }

  private static final Logger log = LoggerFactory.getLogger(Transport.class);
  private static final Set<String> LOGGED = ConcurrentHashMap.newKeySet();

  private final Kind kind;

  private Transport(Kind kind) {
    this.kind = kind;
  }

  /** The transport for {@code preference}; never {@link Kind#AUTO}. */
  public static Transport select(Kind preference) {
    Kind chosen;
    String why;
    switch (preference) {
      case EPOLL -> {
        if (Epoll.isAvailable()) {
          chosen = Kind.EPOLL;
          why = "requested";
        } else {
          chosen = Kind.NIO;
          why = "epoll requested but unavailable: " + Epoll.unavailabilityCause();
        }
      }
      case IO_URING -> {
        if (IoUring.isAvailable()) {
          chosen = Kind.IO_URING;
          why = "requested";
        } else {
          chosen = Kind.NIO;
          why = "io_uring requested but unavailable: " + IoUring.unavailabilityCause();
        }
      }
      case NIO -> {
        chosen = Kind.NIO;
        why = "requested";
      }
      default -> {
        if (Epoll.isAvailable()) {
          chosen = Kind.EPOLL;
          why = "auto";
        } else if (IoUring.isAvailable()) {
          chosen = Kind.IO_URING;
          why = "auto; epoll unavailable: " + Epoll.unavailabilityCause();
        } else {
          chosen = Kind.NIO;
          why = "auto; no native transport: " + Epoll.unavailabilityCause();
        }
      }
    }
    if (LOGGED.add(chosen + "/" + why)) {
      if (why.contains("unavailable")) {
        log.warn("I/O transport: {} ({})", chosen, why);
      } else {
        log.info("I/O transport: {} ({})", chosen, why);
      }
    }
    return new Transport(chosen);
  }

  public Kind kind() {
    return kind;
  }

  /** A new event loop group of {@code threads} daemon threads named {@code name-N}. */
  public EventLoopGroup newEventLoopGroup(int threads, String name) {
    return new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory(name, true), ioHandlerFactory());
  }

  public IoHandlerFactory ioHandlerFactory() {
    return switch (kind) {
      case EPOLL -> GuardedEpollIoHandler.newFactory();
      case IO_URING -> IoUringIoHandler.newFactory();
      default -> NioIoHandler.newFactory();
    };
  }

  public Class<? extends ServerChannel> serverChannelClass() {
    return switch (kind) {
      case EPOLL -> EpollServerSocketChannel.class;
      case IO_URING -> IoUringServerSocketChannel.class;
      default -> NioServerSocketChannel.class;
    };
  }

  public Class<? extends Channel> socketChannelClass() {
    return switch (kind) {
      case EPOLL -> EpollSocketChannel.class;
      case IO_URING -> IoUringSocketChannel.class;
      default -> NioSocketChannel.class;
    };
  }

  public Class<? extends DatagramChannel> datagramChannelClass() {
    return switch (kind) {
      case EPOLL -> EpollDatagramChannel.class;
      case IO_URING -> IoUringDatagramChannel.class;
      default -> NioDatagramChannel.class;
    };
  }

  @Override
  public String toString() {
    return "Transport[" + kind + "]";
  }
}
