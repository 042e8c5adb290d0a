package dev.ambientj.config;

import dev.ambientj.config.ca.CaClient;
import dev.ambientj.config.ca.ControlPlaneTls;
import dev.ambientj.config.kubernetes.KubernetesConfigSource;
import dev.ambientj.config.xds.ProxyNode;
import dev.ambientj.config.xds.XdsConfigSource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How a proxy process ({@code mesh ztunnel}, {@code mesh waypoint}) gets its configuration: the
 * YAML files it was given, delta xDS from {@code mesh config-server}, or — without a config
 * server — the Kubernetes API directly ({@link #startKubernetes}). Either way the proxy reads the
 * same {@link SnapshotPublisher}; each start method returns once a first snapshot is there.
 *
 * <p>A start method given no timeout (null) waits for as long as the source needs — the server
 * or the API may come later; the source retries meanwhile — saying once, after {@link
 * #WAIT_NOTICE}, what it waits for, and once when it arrived: a proxy started before its config
 * server stays up and not ready rather than exiting and restarting (as Istio's ztunnel does).
 */
public final class ProxyConfigSources {
  private static final Logger log = LoggerFactory.getLogger(ProxyConfigSources.class);

  /** After this long without a first snapshot, a line says what the proxy is waiting for. */
  static final Duration WAIT_NOTICE = Duration.ofSeconds(10);

  /** The pod's own IP, set from the downward API ({@code status.podIP}), as Istio's proxies read it. */
  public static final String INSTANCE_IP_ENV = "INSTANCE_IP";

  private ProxyConfigSources() {}

  /**
   * Where the configuration comes from.
   *
   * @param files YAML files (used when {@code xdsServer} is null)
   * @param xdsServer the config server's xDS address, or null
   * @param proxyType {@code ztunnel} or {@code waypoint}: the first part of the xDS node id
   * @param podName the proxy's pod name (xDS node id)
   * @param podNamespace the proxy's namespace (xDS node id)
   * @param nodeName the Kubernetes node it runs on (xDS metadata NODE_NAME), may be empty
   * @param bearerToken sent to the xDS server (the node token in file mode), or null
   * @param cacheFile where the last good xDS set is kept, or null
   * @param tokenFile the bearer token is read from this file at every (re)connect instead (a
   *     projected service-account token rotates), or null
   * @param rootCertFile PEM roots: speak TLS to the xDS server and verify it with them, or null
   *     for plaintext
   * @param instanceIp the proxy's own IP, the second part of its xDS node id ({@code
   *     ztunnel~<ip>~…}), or null for {@link #instanceIp(String) $INSTANCE_IP or an address of
   *     this host}
   */
  public record Options(List<Path> files, InetSocketAddress xdsServer, String proxyType,
      String podName, String podNamespace, String nodeName, String bearerToken, Path cacheFile,
      Path tokenFile, Path rootCertFile, String instanceIp) {

    /** TLS or a token file, the proxy's IP from the environment. */
    public Options(List<Path> files, InetSocketAddress xdsServer, String proxyType,
        String podName, String podNamespace, String nodeName, String bearerToken, Path cacheFile,
        Path tokenFile, Path rootCertFile) {
      this(files, xdsServer, proxyType, podName, podNamespace, nodeName, bearerToken, cacheFile,
          tokenFile, rootCertFile, null);
    }

    /** Plaintext xDS with a fixed token (or none). */
    public Options(List<Path> files, InetSocketAddress xdsServer, String proxyType,
        String podName, String podNamespace, String nodeName, String bearerToken, Path cacheFile) {
      this(files, xdsServer, proxyType, podName, podNamespace, nodeName, bearerToken, cacheFile,
          null, null, null);
    }
  }

  /**
   * The IP a proxy names itself with on xDS: {@code given} if set, else {@value #INSTANCE_IP_ENV}
   * (the manifests set it from {@code status.podIP}), else the first non-loopback IPv4 address of
   * this host's interfaces (a pod has its own), else {@code 127.0.0.1}. Never the address of the
   * server it dials: that would name every proxy after the config server's Service.
   */
  static String instanceIp(String given) {
    if (given != null && !given.isBlank()) {
      return given.strip();
    }
    String env = System.getenv(INSTANCE_IP_ENV);
    if (env != null && !env.isBlank()) {
      return env.strip();
    }
    try {
      for (NetworkInterface nic : java.util.Collections.list(NetworkInterface.getNetworkInterfaces())) {
        if (!nic.isUp() || nic.isLoopback()) {
          continue;
        }
        for (InetAddress a : java.util.Collections.list(nic.getInetAddresses())) {
          if (a instanceof Inet4Address && !a.isLoopbackAddress() && !a.isLinkLocalAddress()) {
            return a.getHostAddress();
          }
        }
      }
    } catch (SocketException e) {
      // fall through
    }
    return InetAddress.getLoopbackAddress().getHostAddress();
  }

  /**
   * Watches the cluster of the current kubeconfig (or the pod's service account, in a cluster)
   * with a {@link KubernetesConfigSource}; closing the result stops it and closes its client.
   * Every proxy then watches the API server itself, so prefer xDS from one config server in a
   * large cluster; this suits a single proxy or a small cluster.
   *
   * @param readyTimeout how long to wait for the first complete list of the mesh's objects; null
   *     waits for as long as it takes (the API is retried meanwhile)
   * @throws IOException when the API server does not list the mesh within {@code readyTimeout}
   */
  public static AutoCloseable startKubernetes(SnapshotPublisher publisher, Duration readyTimeout)
      throws IOException {
    KubernetesClient client;
    try {
      client = new KubernetesClientBuilder().build();
    } catch (KubernetesClientException e) {
      throw new IOException("Kubernetes client: " + e.getMessage(), e);
    }
    try {
      AutoCloseable source = startKubernetes(client, publisher, readyTimeout);
      return () -> {
        try {
          source.close();
        } finally {
          client.close();
        }
      };
    } catch (IOException | RuntimeException e) {
      client.close();
      throw e;
    }
  }

  /**
   * As {@link #startKubernetes(SnapshotPublisher, Duration)} with the caller's client, which the
   * caller closes after the returned source.
   */
  public static AutoCloseable startKubernetes(
      KubernetesClient client, SnapshotPublisher publisher, Duration readyTimeout)
      throws IOException {
    KubernetesConfigSource source = KubernetesConfigSource.open(client, publisher);
    try {
      await(source.synced(), readyTimeout, "the mesh's objects from the Kubernetes API at "
          + client.getMasterUrl(), source::lastFailure);
      return source;
    } catch (TimeoutException e) {
      source.close();
      throw new IOException("the Kubernetes API at " + client.getMasterUrl() + " did not list the"
          + " mesh's objects within " + readyTimeout.toSeconds() + " s; last: " + source.lastFailure());
    } catch (ExecutionException | RuntimeException e) {
      source.close();
      throw new IOException("Kubernetes: " + e.getMessage(), e);
    } catch (InterruptedException e) {
      source.close();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while listing the cluster's objects", e);
    }
  }

  /**
   * Waits for {@code ready}: up to {@code timeout}, or as long as it takes when that is null,
   * then saying once after {@link #WAIT_NOTICE} what it waits for (and the source's last problem)
   * and once when it arrived.
   */
  private static void await(CompletableFuture<?> ready, Duration timeout, String what,
      java.util.function.Supplier<String> lastProblem)
      throws TimeoutException, ExecutionException, InterruptedException {
    if (timeout != null) {
      ready.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
      return;
    }
    long start = System.nanoTime();
    try {
      ready.get(WAIT_NOTICE.toMillis(), TimeUnit.MILLISECONDS);
      return;
    } catch (TimeoutException e) {
      log.warn("no {} yet after {} s ({}); waiting for as long as it takes, not ready until then",
          what, WAIT_NOTICE.toSeconds(), lastProblem.get());
    }
    ready.get();
    log.info("received {} after {} s", what, TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start));
  }

  /**
   * Reads a PEM trust bundle (e.g. the mounted {@code root-cert.pem}).
   *
   * @throws IOException naming the file when it cannot be read or holds no certificate
   */
  public static List<X509Certificate> readRoots(Path file) throws IOException {
    List<X509Certificate> roots;
    try {
      roots = ControlPlaneTls.parseCertificates(Files.readString(file));
    } catch (IOException e) {
      throw new IOException("cannot read the root certificate " + file + ": " + e.getMessage(), e);
    } catch (IllegalArgumentException e) {
      throw new IOException(file + " is not a PEM certificate bundle: " + e.getMessage(), e);
    }
    if (roots.isEmpty()) {
      throw new IOException(file + " holds no PEM certificate (expected the mesh root,"
          + " e.g. root-cert.pem of ConfigMap ambientj-ca-root-cert)");
    }
    return roots;
  }

  /**
   * Starts the source and waits (up to {@code readyTimeout} for xDS; null: as long as it takes)
   * for its first snapshot.
   *
   * @throws IOException when the files cannot be read or the xDS server sent nothing usable in
   *     time and there was no on-disk copy; the message says which
   */
  public static AutoCloseable start(Options options, SnapshotPublisher publisher,
      Duration readyTimeout) throws IOException {
    if (options.xdsServer() == null) {
      return FileConfigSource.start(options.files(), publisher);
    }
    var node = ProxyNode.node(options.proxyType(), instanceIp(options.instanceIp()),
        options.podName(), options.podNamespace(),
        options.nodeName() == null ? "" : options.nodeName());
    XdsConfigSource.Builder builder = XdsConfigSource.builder(options.xdsServer(), node, publisher);
    if (options.cacheFile() != null) {
      Files.createDirectories(options.cacheFile().toAbsolutePath().getParent());
      builder.cacheFile(options.cacheFile());
    }
    if (options.tokenFile() != null) {
      builder.bearerToken(CaClient.tokenFile(options.tokenFile()));
    } else if (options.bearerToken() != null) {
      builder.bearerToken(options.bearerToken());
    }
    if (options.rootCertFile() != null) {
      builder.tls(ControlPlaneTls.client(readRoots(options.rootCertFile()), null, null));
    }
    XdsConfigSource source = builder.start();
    String server = options.xdsServer().getHostString() + ":" + options.xdsServer().getPort();
    try {
      await(source.ready(), readyTimeout, "configuration from the xDS server at " + server,
          () -> "no on-disk copy" + (options.cacheFile() == null ? "" : " at " + options.cacheFile()));
      return source;
    } catch (TimeoutException e) {
      source.close();
      throw new IOException("no configuration from the xDS server at " + server + " within " + readyTimeout.toSeconds() + " s, and no on-disk copy"
          + (options.cacheFile() == null ? "" : " at " + options.cacheFile())
          + " — is `mesh config-server` running?");
    } catch (ExecutionException e) {
      source.close();
      throw new IOException("xDS: " + e.getCause().getMessage(), e.getCause());
    } catch (InterruptedException e) {
      source.close();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while waiting for xDS", e);
    }
  }
}
