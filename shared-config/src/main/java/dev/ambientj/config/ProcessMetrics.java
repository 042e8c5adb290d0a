package dev.ambientj.config;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/**
 * What every ambientj process exports about itself, as Istio's components do:
 *
 * <ul>
 *   <li>{@code istio_build{component, tag}} = 1: {@code component} is Istio's name for the role
 *       ({@value #ZTUNNEL}, {@value #PROXY} for a waypoint, {@value #PILOT} for the config server),
 *       {@code tag} this build's version;
 *   <li>the JVM and the process: memory, GC, threads, class loading, CPU, uptime, open file
 *       descriptors (Micrometer's binders: {@code jvm_*}, {@code process_*}, {@code system_*}).
 * </ul>
 */
public final class ProcessMetrics {
  public static final String ZTUNNEL = "ztunnel";
  public static final String PROXY = "proxy";
  public static final String PILOT = "pilot";

  /** Micrometer name of the build gauge (Prometheus {@code istio_build}). */
  public static final String BUILD = "istio.build";

  private static final String VERSION = readVersion();

  private ProcessMetrics() {}

  /** This build's version (the Maven project version), e.g. {@code 0.1.0-SNAPSHOT}. */
  public static String version() {
    return VERSION;
  }

  /**
   * Registers the build gauge and the JVM/process binders in {@code registry}. The GC binder
   * listens to GC notifications until the returned handle is closed.
   */
  public static AutoCloseable bind(MeterRegistry registry, String component) {
    Gauge.builder(BUILD, () -> 1)
        .description("Istio component build info")
        .tags("component", component, "tag", VERSION)
        .strongReference(true)
        .register(registry);
    new JvmMemoryMetrics().bindTo(registry);
    JvmGcMetrics gc = new JvmGcMetrics();
    gc.bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    new ClassLoaderMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    new UptimeMetrics().bindTo(registry);
    new FileDescriptorMetrics().bindTo(registry);
    return gc::close;
  }

  private static String readVersion() {
    try (InputStream in = ProcessMetrics.class.getResourceAsStream("build.properties")) {
      if (in == null) {
        return "unknown";
      }
      Properties p = new Properties();
      p.load(in);
      String v = p.getProperty("version", "unknown");
      return v.startsWith("${") ? "unknown" : v;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
