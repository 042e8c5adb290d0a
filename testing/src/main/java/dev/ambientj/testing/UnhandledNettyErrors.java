package dev.ambientj.testing;

import io.netty.util.internal.logging.InternalLogLevel;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * What Netty itself reports at WARN or ERROR while recording is on: an exception that reached the
 * tail of a pipeline nobody handled it in (an HTTP/2 stream channel's, say, which an {@code
 * EmbeddedChannel} does not see), an exception thrown by a future's listener, a task that threw on
 * an event loop. Fuzz targets record around each input and fail on any report.
 *
 * <p>Works by wrapping Netty's logger factory, so it must be {@link #install installed} before
 * Netty's classes create their (static) loggers: the {@link LeakFailingExtension}, which JUnit
 * loads before any test class, does it. Outside recording the wrapper only delegates.
 */
public final class UnhandledNettyErrors {

  private static final List<String> REPORTS = new CopyOnWriteArrayList<>();
  private static volatile boolean recording;
  private static volatile boolean installed;

  private UnhandledNettyErrors() {}

  /** Wraps Netty's default logger factory (once; later calls do nothing). */
  static synchronized void install() {
    if (installed) {
      return;
    }
    installed = true;
    InternalLoggerFactory original = InternalLoggerFactory.getDefaultFactory();
    Method newInstance;
    try {
      newInstance = InternalLoggerFactory.class.getDeclaredMethod("newInstance", String.class);
      newInstance.setAccessible(true);
    } catch (ReflectiveOperationException | RuntimeException e) {
      return; // cannot wrap: recording sees nothing, the tests still run
    }
    InternalLoggerFactory.setDefaultFactory(new InternalLoggerFactory() {
      @Override
      protected InternalLogger newInstance(String name) {
        InternalLogger real;
        try {
          real = (InternalLogger) newInstance.invoke(original, name);
        } catch (ReflectiveOperationException e) {
          throw new IllegalStateException("cannot create Netty logger " + name, e);
        }
        return (InternalLogger) Proxy.newProxyInstance(UnhandledNettyErrors.class.getClassLoader(),
            new Class<?>[] {InternalLogger.class}, (proxy, method, args) -> {
              if (recording && isReport(method, args)) {
                REPORTS.add(describe(name, method, args));
              }
              try {
                return method.invoke(real, args);
              } catch (InvocationTargetException e) {
                throw e.getCause();
              }
            });
      }
    });
  }

  private static boolean isReport(Method method, Object[] args) {
    String m = method.getName();
    if (args == null || args.length == 0) {
      return false; // isWarnEnabled() and friends
    }
    if (m.equals("warn") || m.equals("error")) {
      return true;
    }
    return m.equals("log") && args[0] instanceof InternalLogLevel level
        && (level == InternalLogLevel.WARN || level == InternalLogLevel.ERROR);
  }

  private static String describe(String logger, Method method, Object[] args) {
    StringBuilder sb = new StringBuilder(logger).append(": ");
    Throwable cause = null;
    for (Object a : args) {
      if (a instanceof Throwable t) {
        cause = t;
      } else if (a instanceof Object[] more) {
        for (Object o : more) {
          if (o instanceof Throwable t) {
            cause = t;
          }
        }
        sb.append(java.util.Arrays.toString(more)).append(' ');
      } else if (!(a instanceof InternalLogLevel)) {
        sb.append(a).append(' ');
      }
    }
    if (cause != null) {
      StringWriter w = new StringWriter();
      cause.printStackTrace(new PrintWriter(w));
      sb.append('\n').append(w);
    }
    return sb.toString();
  }

  /** Starts recording, forgetting earlier reports. */
  public static void start() {
    install();
    REPORTS.clear();
    recording = true;
  }

  /** Stops recording; throws if Netty reported an unhandled error since {@link #start()}. */
  public static void stopAndCheck(String what) {
    recording = false;
    if (!REPORTS.isEmpty()) {
      List<String> found = List.copyOf(REPORTS);
      REPORTS.clear();
      throw new AssertionError("Netty reported " + found.size() + " unhandled error(s) during " + what
          + ":\n" + String.join("\n---\n", found));
    }
  }
}
