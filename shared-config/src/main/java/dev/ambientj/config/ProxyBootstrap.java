package dev.ambientj.config;

import dev.ambientj.config.ca.CaClient;
import dev.ambientj.config.model.MeshSnapshot;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;

/**
 * What a proxy process does around the proxy itself, the same for {@code mesh ztunnel} and {@code
 * mesh waypoint}: start the configuration source its {@link ProxyFlags} name and wait for the
 * first snapshot, hold the client of the CA at {@code --ca-address}, and serve until SIGTERM, then
 * drain before the JVM exits ({@link #untilSignal}, which {@code mesh config-server} uses too).
 *
 * <p>Lifecycle: {@link #start} (flags already validated) → the command builds its proxy from
 * {@link #publisher()}, {@link #snapshot()} and {@link #caClient()} → {@link #untilSignal} → {@link
 * #close}, which closes what was handed to {@link #own} and the source, in reverse order. Errors
 * propagate: the command line reports them ({@code mesh <process>: <message>}, exit 1).
 */
public final class ProxyBootstrap implements AutoCloseable {
  private final String process;
  private final ProxyFlags flags;
  private final SnapshotPublisher publisher = new SnapshotPublisher();
  private final Deque<AutoCloseable> owned = new ArrayDeque<>();
  private CaClient caClient;

  private ProxyBootstrap(String process, ProxyFlags flags) {
    this.process = process;
    this.flags = flags;
  }

  /**
   * Starts the source that {@code flags} name with {@code options} and waits for its first
   * snapshot for as long as it takes (a config or API server that comes later is retried).
   */
  public static ProxyBootstrap start(String process, ProxyFlags flags, ProxyConfigSources.Options options)
      throws IOException {
    ProxyBootstrap b = new ProxyBootstrap(process, flags);
    b.owned.push(flags.startSource(options, b.publisher));
    return b;
  }

  public SnapshotPublisher publisher() {
    return publisher;
  }

  /** The configuration in force now. */
  public MeshSnapshot snapshot() {
    return publisher.snapshot();
  }

  /**
   * The client of the CA at {@code --ca-address} (closed with this), or null without one: then
   * the process signs its own certificates with the local CA of its state directory.
   */
  public CaClient caClient() throws IOException {
    if (caClient == null && flags.caAddress() != null) {
      caClient = own(flags.caClient());
      System.err.println("mesh " + process + ": certificates from the CA at " + flags.caAddress()
          + (flags.tls() ? " (TLS)" : ""));
    }
    return caClient;
  }

  /** Closes {@code resource} with this, before what was owned earlier. */
  public <T extends AutoCloseable> T own(T resource) {
    owned.push(resource);
    return resource;
  }

  /** What runs between the start of a process's servers and the end of their drain. */
  @FunctionalInterface
  public interface Serve {
    /** Starts serving, calls {@code signal.await()}, then drains and stops. */
    void serve(Signal signal) throws Exception;
  }

  /** Blocks until SIGTERM or SIGINT. */
  @FunctionalInterface
  public interface Signal {
    void await() throws InterruptedException;
  }

  /**
   * Runs {@code serve} with SIGTERM/SIGINT as its signal. After the signal the JVM waits for
   * {@code serve} to return, at most {@code maxWait} (the drain deadline and its last steps),
   * and then exits with the signal's status.
   */
  public static void untilSignal(String process, Duration maxWait, Serve serve) throws Exception {
    GracefulShutdown signal = GracefulShutdown.install(process, maxWait);
    try {
      serve.serve(signal::awaitSignal);
    } finally {
      signal.finished();
    }
  }

  @Override
  public void close() {
    while (!owned.isEmpty()) {
      try {
        owned.pop().close();
      } catch (Exception e) {
        System.err.println("mesh " + process + ": while stopping: " + e.getMessage());
      }
    }
  }
}
