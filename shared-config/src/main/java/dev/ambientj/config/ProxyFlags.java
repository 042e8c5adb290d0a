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

/**
 * The flags that say where a node process gets its configuration and its certificates, parsed
 * the same way by {@code mesh ztunnel}, {@code mesh waypoint} and {@code mesh cni-agent} (which
 * takes only the first and the last source):
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
 * <p>Use: offer each argument to {@link #accept}; after the loop, {@link #validate}. Parse errors
 * are {@link IllegalArgumentException}s whose message is written for the operator.
 */
public final class ProxyFlags {
  /** Where the configuration comes from. */
  public enum Source { FILES, XDS, KUBERNETES }

  private final boolean proxy;
  private final List<Path> configs = new ArrayList<>();
  private String xds;
  private boolean kubernetes;
  private String caAddress;
  private Path tokenFile;
  private Path rootCertFile;
  private InetSocketAddress xdsServer;

  private ProxyFlags(boolean proxy) {
    this.proxy = proxy;
  }

  /** ztunnel and waypoint: every flag above. */
  public static ProxyFlags forProxy() {
    return new ProxyFlags(true);
  }

  /** The CNI node agent: {@code --config FILE... | --kubernetes}. */
  public static ProxyFlags configOrKubernetes() {
    return new ProxyFlags(false);
  }

  /**
   * Consumes {@code args[i]} (and its value) when it is one of these flags.
   *
   * @return the index of the last argument consumed, or -1 when {@code args[i]} is not ours
   * @throws IllegalArgumentException when the flag's value is missing
   */
  public int accept(String[] args, int i) {
    String a = args[i];
    if (a.equals("--kubernetes")) {
      kubernetes = true;
      return i;
    }
    boolean ours = a.equals("--config")
        || (proxy && List.of("--xds", "--ca-address", "--ca-token-file", "--ca-root-cert").contains(a));
    if (!ours) {
      return -1;
    }
    if (i + 1 >= args.length) {
      throw new IllegalArgumentException(a + " needs a value");
    }
    String v = args[i + 1];
    switch (a) {
      case "--config" -> configs.add(Path.of(v));
      case "--xds" -> xds = v;
      case "--ca-address" -> caAddress = v;
      case "--ca-token-file" -> tokenFile = Path.of(v);
      default -> rootCertFile = Path.of(v);
    }
    return i + 1;
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

  /** Help lines for the flags, to print under a command's own. */
  public String help() {
    StringBuilder b = new StringBuilder();
    b.append("  --config FILE        Kubernetes YAML, reloaded once quiet; replace it atomically\n")
        .append("                       (write a temp file, then mv); repeatable\n");
    if (proxy) {
      b.append("  --xds HOST:PORT      instead of --config: delta xDS from mesh config-server\n");
    }
    b.append("  --kubernetes         instead of --config: watch the Kubernetes API directly\n");
    if (proxy) {
      b.append("  --ca-address H:P     certificates from mesh config-server's CA (e.g. 127.0.0.1:15010,\n")
          .append("                       or its TLS port 15012 with --ca-root-cert)\n")
          .append("  --ca-token-file F    bearer token for the CA and xDS, re-read when it rotates: the\n")
          .append("                       node token (<server state dir>/node-tokens/<node>.token) or a\n")
          .append("                       projected service-account token (audience istio-ca)\n")
          .append("  --ca-root-cert F     PEM root(s) of the mesh CA: reach xDS and the CA over TLS and\n")
          .append("                       verify the server with them (ConfigMap ambientj-ca-root-cert)\n");
    }
    return b.toString();
  }
}
