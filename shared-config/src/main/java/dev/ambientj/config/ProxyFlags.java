package dev.ambientj.config;

import dev.ambientj.config.ca.CaClient;
import dev.ambientj.config.ca.ControlPlaneTls;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import picocli.CommandLine.Option;

/**
 * The flags that say where a node process gets its configuration and its certificates, read the
 * same way by {@code mesh ztunnel} and {@code mesh waypoint} (a picocli argument group, shown under
 * its own heading in their help); {@code mesh cni-agent} takes only the first and the last source
 * ({@link #configOrKubernetes}):
 *
 * <pre>
 *   --config FILE (repeatable) | --xds HOST:PORT | --kubernetes     exactly one
 *   --ca-address HOST:PORT   certificates from the config server's CA (needs --ca-token-file)
 *   --ca-token-file FILE     bearer token for the CA and xDS: a node token, or a projected
 *                            service-account token (audience istio-ca); re-read on every CSR and
 *                            every xDS (re)connect, since the kubelet rotates it
 *   --ca-root-cert FILE      PEM roots: xDS and the CA over TLS, the server verified with them
 *                            (Istio's XDS_ROOT_CA, istio-ca-root-cert's root-cert.pem)
 * </pre>
 *
 * <p>Use: declare {@code @ArgGroup(validate = false, heading = ...) ProxyFlags flags = new
 * ProxyFlags();} in a command; after parsing, {@link #validate}. Validation errors are {@link
 * IllegalArgumentException}s whose message is written for the operator.
 */
public final class ProxyFlags {
  /** Where the configuration comes from. */
  public enum Source { FILES, XDS, KUBERNETES }

  private final boolean proxy;

  @Option(names = "--config", paramLabel = "FILE",
      description = {"Kubernetes YAML, reloaded once quiet; replace it atomically (write a temp"
          + " file, then mv); repeatable"})
  private List<Path> configs = new ArrayList<>();

  @Option(names = "--xds", paramLabel = "HOST:PORT",
      description = "instead of --config: delta xDS from mesh config-server. The last good set is"
          + " cached in the state dir and used when the server is down at start; without one it"
          + " waits for the server, not ready, as long as it takes")
  private String xds;

  @Option(names = "--kubernetes", description = "instead of --config: watch the Kubernetes API directly")
  private boolean kubernetes;

  @Option(names = "--ca-address", paramLabel = "HOST:PORT",
      description = "certificates from mesh config-server's CA (e.g. 127.0.0.1:15010, or its TLS"
          + " port 15012 with --ca-root-cert): an EC P-256 key and CSR per identity, renewed at"
          + " half-life. Without it: the local CA of --state-dir")
  private String caAddress;

  @Option(names = "--ca-token-file", paramLabel = "FILE",
      description = "bearer token for the CA and xDS, re-read when it rotates: the node token"
          + " (<server state dir>/node-tokens/<node>.token) or a projected service-account token"
          + " (audience istio-ca)")
  private Path tokenFile;

  @Option(names = "--ca-root-cert", paramLabel = "FILE",
      description = "PEM root(s) of the mesh CA: reach xDS and the CA over TLS and verify the server"
          + " with them (ConfigMap ambientj-ca-root-cert)")
  private Path rootCertFile;

  private InetSocketAddress xdsServer;

  /** ztunnel and waypoint: every flag above (what picocli instantiates). */
  public ProxyFlags() {
    this.proxy = true;
  }

  private ProxyFlags(List<Path> configs, boolean kubernetes) {
    this.proxy = false;
    this.configs = new ArrayList<>(configs);
    this.kubernetes = kubernetes;
  }

  /** ztunnel and waypoint with none of the flags given. */
  public static ProxyFlags forProxy() {
    return new ProxyFlags();
  }

  /** The CNI node agent's {@code --config FILE... | --kubernetes}, parsed by its command. */
  public static ProxyFlags configOrKubernetes(List<Path> configs, boolean kubernetes) {
    return new ProxyFlags(configs, kubernetes);
  }

  /**
   * Checks the combination: exactly one source, readable files, the CA's token.
   *
   * @throws IllegalArgumentException saying what is wrong and what is expected
   */
  public void validate() {
    int sources = (configs.isEmpty() ? 0 : 1) + (xds == null ? 0 : 1) + (kubernetes ? 1 : 0);
    if (sources != 1) {
      throw new IllegalArgumentException((sources == 0 ? "" : "only ") + "one of "
          + (proxy ? "--config FILE, --xds HOST:PORT or --kubernetes" : "--config FILE or --kubernetes")
          + " is required");
    }
    for (Path p : configs) {
      if (!Files.isReadable(p)) {
        throw new IllegalArgumentException("cannot read " + p);
      }
    }
    if (xds != null) {
      try {
        xdsServer = SocketAddresses.parse(xds, 1);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("--xds " + e.getMessage(), e);
      }
    }
    if (caAddress != null && tokenFile == null) {
      throw new IllegalArgumentException("--ca-address needs --ca-token-file (the node token, or"
          + " a projected service-account token with audience istio-ca)");
    }
    if (tokenFile != null && caAddress == null && xds == null) {
      throw new IllegalArgumentException("--ca-token-file is for --ca-address or --xds");
    }
    if (rootCertFile != null && caAddress == null && xds == null) {
      throw new IllegalArgumentException("--ca-root-cert is for --ca-address or --xds");
    }
    if (tokenFile != null && !Files.isReadable(tokenFile)) {
      throw new IllegalArgumentException("cannot read the token " + tokenFile + " (a node token that"
          + " mesh config-server writes to <state-dir>/node-tokens/<node>.token, or a projected"
          + " service-account token)");
    }
    if (rootCertFile != null && !Files.isReadable(rootCertFile)) {
      throw new IllegalArgumentException("cannot read the root certificate " + rootCertFile);
    }
  }

  public Source source() {
    return kubernetes ? Source.KUBERNETES : xds != null ? Source.XDS : Source.FILES;
  }

  public List<Path> configs() {
    return List.copyOf(configs);
  }

  public boolean kubernetes() {
    return kubernetes;
  }

  /** The {@code --xds} value as given, or null. */
  public String xds() {
    return xds;
  }

  /** The parsed {@code --xds} address (after {@link #validate}), or null. */
  public InetSocketAddress xdsServer() {
    return xdsServer;
  }

  /** {@code --ca-address}, or null (the proxy's own CA). */
  public String caAddress() {
    return caAddress;
  }

  public Path tokenFile() {
    return tokenFile;
  }

  public Path rootCertFile() {
    return rootCertFile;
  }

  /** Whether the config server is reached over TLS. */
  public boolean tls() {
    return rootCertFile != null;
  }

  /** What {@link ProxyConfigSources#start} needs for these flags. */
  public ProxyConfigSources.Options sourceOptions(String proxyType, String podName,
      String podNamespace, String nodeName, Path cacheFile) {
    return new ProxyConfigSources.Options(configs(), xdsServer, proxyType, podName, podNamespace,
        nodeName, null, cacheFile, tokenFile, rootCertFile);
  }

  /**
   * Starts the configuration source these flags name and waits for its first snapshot for as
   * long as it takes: a config server or API server that comes later is retried, not a reason to
   * exit (see {@link ProxyConfigSources}).
   */
  public AutoCloseable startSource(ProxyConfigSources.Options options, SnapshotPublisher publisher)
      throws IOException {
    return startSource(options, publisher, null);
  }

  /**
   * Starts the configuration source these flags name and waits for its first snapshot, at most
   * {@code readyTimeout} (null: as long as it takes).
   */
  public AutoCloseable startSource(ProxyConfigSources.Options options, SnapshotPublisher publisher,
      java.time.Duration readyTimeout) throws IOException {
    return kubernetes
        ? ProxyConfigSources.startKubernetes(publisher, readyTimeout)
        : ProxyConfigSources.start(options, publisher, readyTimeout);
  }

  /**
   * A client of the CA at {@code --ca-address} (TLS when {@code --ca-root-cert} is given), reading
   * the token file on every call; null without {@code --ca-address}.
   */
  public CaClient caClient() throws IOException {
    if (caAddress == null) {
      return null;
    }
    CaClient.Builder b = CaClient.builder(caAddress).token(tokenSupplier());
    if (rootCertFile != null) {
      b.tls(ControlPlaneTls.client(ProxyConfigSources.readRoots(rootCertFile), null, null));
    }
    return b.build();
  }

  private Supplier<String> tokenSupplier() {
    return CaClient.tokenFile(tokenFile);
  }
}
