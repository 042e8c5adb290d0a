package dev.ambientj.config;

import dev.ambientj.config.ca.CaClient;
import dev.ambientj.config.ca.ControlPlaneTls;
import dev.ambientj.config.kubernetes.KubernetesConfigSource;
import dev.ambientj.config.xds.ProxyNode;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import dev.ambientj.config.xds.XdsConfigSource;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * How a proxy process ({@code mesh ztunnel}, {@code mesh waypoint}) gets its configuration: the
 * YAML files it was given, delta xDS from {@code mesh config-server}, or — without a config
 * server — the Kubernetes API directly ({@link #startKubernetes}). Either way the proxy reads the
 * same {@link SnapshotPublisher}; each start method returns once a first snapshot is there.
 */
public final class ProxyConfigSources {
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
   */
  public record Options(List<Path> files, InetSocketAddress xdsServer, String proxyType,
      String podName, String podNamespace, String nodeName, String bearerToken, Path cacheFile,
      Path tokenFile, Path rootCertFile) {

    /** Plaintext xDS with a fixed token (or none). */
    public Options(List<Path> files, InetSocketAddress xdsServer, String proxyType,
        String podName, String podNamespace, String nodeName, String bearerToken, Path cacheFile) {
      this(files, xdsServer, proxyType, podName, podNamespace, nodeName, bearerToken, cacheFile,
          null, null);
    }
  }

  /**
   * Watches the cluster of the current kubeconfig (or the pod's service account, in a cluster)
   * with a {@link KubernetesConfigSource}; closing the result stops it and closes its client.
   * Every proxy then watches the API server itself, so prefer xDS from one config server in a
   * large cluster; this suits a single proxy or a small cluster.
   *
   * @param readyTimeout how long to wait for the first complete list of the mesh's objects
   * @throws IOException when the API server cannot be reached or refuses a kind the mesh needs
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
    try {
      return KubernetesConfigSource.start(
          client, publisher, new MeshTranslator(), Duration.ofMinutes(10), readyTimeout);
    } catch (IllegalStateException | KubernetesClientException e) {
      throw new IOException(e.getMessage(), e);
    }
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
   * Starts the source and waits (up to {@code readyTimeout} for xDS) for its first snapshot.
   *
   * @throws IOException when the files cannot be read or the xDS server sent nothing usable in
   *     time and there was no on-disk copy; the message says which
   */
  public static AutoCloseable start(Options options, SnapshotPublisher publisher,
      Duration readyTimeout) throws IOException {
    if (options.xdsServer() == null) {
      return FileConfigSource.start(options.files(), publisher);
    }
    String ip = options.xdsServer().getAddress() == null
        ? "" : options.xdsServer().getAddress().getHostAddress();
    var node = ProxyNode.node(options.proxyType(), ip, options.podName(), options.podNamespace(),
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
    try {
      source.ready().get(readyTimeout.toMillis(), TimeUnit.MILLISECONDS);
      return source;
    } catch (TimeoutException e) {
      source.close();
      throw new IOException("no configuration from the xDS server at "
          + options.xdsServer().getHostString() + ":" + options.xdsServer().getPort()
          + " within " + readyTimeout.toSeconds() + " s, and no on-disk copy"
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
