package dev.ambientj.config.ca;

import dev.ambientj.config.SnapshotListener;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Node;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The file-mode bootstrap credential of a ztunnel: one random bearer token per node.
 *
 * <p>The config server gives every {@link Node} of the mesh a token and keeps it in {@code
 * <state-dir>/node-tokens/<node>.token} (directory 0700, file 0600, one line: 43 characters of
 * base64url, 256 random bits). A ztunnel started for node {@code N} reads that file and sends
 * {@code authorization: Bearer <token>} with every call to the config server — as Istio's ztunnel
 * sends its projected service-account token. The server maps the token back to {@code N}; the CA
 * then signs only for identities of workloads scheduled on {@code N} (Istio's node authorizer).
 *
 * <p>Lifecycle: tokens on disk are reused across restarts, so a running ztunnel keeps working
 * when the server restarts; a node that appears in a later snapshot gets a token then. To revoke a
 * token, delete its file and restart the server (a new one is issued). A token of a node that left
 * the configuration still authenticates, but that node has no workloads, so it is granted nothing.
 *
 * <p>Only SHA-256 digests of the tokens are held in memory and looked up, so the lookup's timing
 * says nothing about a valid token. Node names that are not DNS-1123 subdomains (and so could
 * escape the directory) get no token. Thread-safe; {@link #onSnapshot} runs on the publisher's
 * thread and does small file I/O.
 */
public final class NodeTokens implements SnapshotListener {
  private static final Logger log = LoggerFactory.getLogger(NodeTokens.class);
  private static final Pattern NODE_NAME =
      Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
  private static final String SUFFIX = ".token";

  private final Path dir;
  private final SecureRandom random = new SecureRandom();
  /** SHA-256(token) as hex → node name. */
  private final Map<String, String> nodeByDigest = new ConcurrentHashMap<>();
  private final Map<String, String> digestByNode = new ConcurrentHashMap<>();

  private NodeTokens(Path dir) {
    this.dir = dir;
  }

  /**
   * Opens (creating) {@code dir} and loads the tokens already there. Subscribe the result to the
   * snapshot publisher ({@code publisher.subscribe(tokens)}) to issue tokens for the mesh's nodes.
   */
  public static NodeTokens open(Path dir) throws IOException {
    Path d = dir.toAbsolutePath().normalize();
    CaStateDirectory.createPrivateDirectory(d);
    NodeTokens t = new NodeTokens(d);
    try (var files = Files.list(d)) {
      for (Path f : (Iterable<Path>) files::iterator) {
        String name = f.getFileName().toString();
        if (name.endsWith(SUFFIX) && Files.isRegularFile(f)) {
          String node = name.substring(0, name.length() - SUFFIX.length());
          String token = Files.readString(f, StandardCharsets.US_ASCII).strip();
          if (NODE_NAME.matcher(node).matches() && !token.isEmpty()) {
            t.remember(node, token);
          }
        }
      }
    }
    return t;
  }

  /** The directory holding {@code <node>.token} files. */
  public Path directory() {
    return dir;
  }

  /** The file a ztunnel on {@code node} reads its token from. */
  public Path tokenFile(String node) {
    return dir.resolve(node + SUFFIX);
  }

  /** Makes sure {@code node} has a token, issuing and writing one if needed; returns the file. */
  public synchronized Path ensureToken(String node) throws IOException {
    if (!NODE_NAME.matcher(node).matches()) {
      throw new IllegalArgumentException(
          "node name '" + node + "' is not a DNS-1123 subdomain; no token issued");
    }
    Path f = tokenFile(node);
    if (!digestByNode.containsKey(node)) {
      byte[] bytes = new byte[32];
      random.nextBytes(bytes);
      String token = Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
      CaStateDirectory.writeFile(f, token + "\n", CaStateDirectory.OWNER_ONLY_FILE);
      remember(node, token);
      log.info("issued a node token for {} in {}", node, f);
    }
    return f;
  }

  /** The node {@code token} was issued to; empty for an unknown token. */
  public Optional<String> findNode(String token) {
    if (token == null || token.isEmpty()) {
      return Optional.empty();
    }
    return Optional.ofNullable(nodeByDigest.get(digest(token)));
  }

  @Override
  public void onSnapshot(MeshSnapshot snapshot) {
    for (Node n : snapshot.nodes()) {
      try {
        ensureToken(n.name());
      } catch (IllegalArgumentException e) {
        log.warn("{}", e.getMessage());
      } catch (IOException e) {
        log.error("cannot write the token of node {} to {}", n.name(), dir, e);
      }
    }
  }

  private void remember(String node, String token) {
    String d = digest(token);
    String old = digestByNode.put(node, d);
    if (old != null) {
      nodeByDigest.remove(old);
    }
    nodeByDigest.put(d, node);
  }

  private static String digest(String token) {
    try {
      return HexFormat.of()
          .formatHex(MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Reads the token of {@code node} from {@code dir} (what a ztunnel does at start-up). */
  public static String readToken(Path dir, String node) {
    Path f = dir.resolve(node + SUFFIX);
    try {
      return Files.readString(f, StandardCharsets.US_ASCII).strip();
    } catch (IOException e) {
      throw new UncheckedIOException(
          "cannot read the node token " + f + " (written by `mesh config-server` for each node of"
              + " the mesh): " + e.getMessage(), e);
    }
  }
}
