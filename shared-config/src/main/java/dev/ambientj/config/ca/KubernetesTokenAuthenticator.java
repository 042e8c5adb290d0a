package dev.ambientj.config.ca;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.authentication.TokenReview;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewBuilder;
import io.fabric8.kubernetes.api.model.authentication.UserInfo;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.grpc.Status;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Authenticates a caller by its projected service-account token, as istiod does: a {@code
 * TokenReview} (audience {@value #AUDIENCE}) asks the API server whether the token is valid and
 * whose it is.
 *
 * <ul>
 *   <li>The caller is {@code system:serviceaccount:NS:SA}; its identity is {@code
 *       spiffe://<trust domain>/ns/NS/sa/SA}.
 *   <li>Its node comes from the bound token's extra {@value #NODE_NAME_EXTRA} (Kubernetes 1.30+),
 *       else from {@code spec.nodeName} of the pod named in {@value #POD_NAME_EXTRA}; a token not
 *       bound to a pod has no node.
 *   <li>A service account in {@code nodeAgents} ({@code NS/SA}; Istio's {@code
 *       CA_TRUSTED_NODE_ACCOUNTS}, default {@code <config server namespace>/ztunnel}) is a node
 *       agent: the CA signs for the workloads on its node. Any other gets only its own identity.
 * </ul>
 *
 * <p>Positive answers are cached by the token's SHA-256 for {@code cacheFor} (bounded to {@value
 * #CACHE_SIZE} tokens), so that a ztunnel's burst of CSRs, one per local service account, costs
 * one review. Negative answers are not cached: a token that was just issued is retried. A token
 * revoked within the cache period keeps working until its entry expires, the price of the cache
 * (istiod caches reviews too). API errors are {@code UNAVAILABLE} (the caller retries).
 */
public final class KubernetesTokenAuthenticator implements CallerAuthenticator {
  private static final Logger log = LoggerFactory.getLogger(KubernetesTokenAuthenticator.class);

  /** The audience ztunnel's projected token carries (ISTIO-FACTS §6). */
  public static final String AUDIENCE = "istio-ca";
  public static final String NODE_NAME_EXTRA = "authentication.kubernetes.io/node-name";
  public static final String POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name";
  public static final Duration DEFAULT_CACHE_FOR = Duration.ofMinutes(3);
  static final int CACHE_SIZE = 10_000;
  private static final String SA_PREFIX = "system:serviceaccount:";

  /** What a caller with a service-account token sends, for UNAUTHENTICATED messages. */
  public static final String EXPECTED =
      "'authorization: Bearer <projected service-account token, audience " + AUDIENCE + ">'";

  /** What a review needs, cluster-wide (pods: to find the node of a token without the extra). */
  public static final List<ApiPermission> PERMISSIONS = List.of(
      new ApiPermission("authentication.k8s.io", "tokenreviews", Set.of("create")),
      new ApiPermission("", "pods", Set.of("get")));

  private final KubernetesClient client;
  private final Supplier<String> trustDomain;
  private final Set<String> nodeAgents;
  private final Cache<String, Caller> reviewed;

  /**
   * @param trustDomain read per review (the mesh's, from the current snapshot)
   * @param nodeAgents service accounts trusted as node agents, each {@code NS/SA}
   */
  public KubernetesTokenAuthenticator(KubernetesClient client, Supplier<String> trustDomain,
      Set<String> nodeAgents, Duration cacheFor) {
    this.client = Objects.requireNonNull(client, "client");
    this.trustDomain = Objects.requireNonNull(trustDomain, "trustDomain");
    this.nodeAgents = Set.copyOf(nodeAgents);
    this.reviewed = Caffeine.newBuilder().maximumSize(CACHE_SIZE).expireAfterWrite(cacheFor).build();
  }

  /** How many reviews are cached (for tests and the config dump). */
  public long cachedReviews() {
    reviewed.cleanUp();
    return reviewed.estimatedSize();
  }

  @Override
  public Optional<Caller> authenticate(String token) throws Rejected {
    if (token == null || token.isEmpty()) {
      return Optional.empty();
    }
    String key = sha256(token);
    Caller cached = reviewed.getIfPresent(key);
    if (cached != null) {
      return Optional.of(cached);
    }
    Caller c = review(token);
    reviewed.put(key, c);
    return Optional.of(c);
  }

  private Caller review(String token) throws Rejected {
    TokenReview answer;
    try {
      answer = client.authentication().v1().tokenReviews().create(new TokenReviewBuilder()
          .withNewSpec().withToken(token).withAudiences(AUDIENCE).endSpec().build());
    } catch (KubernetesClientException e) {
      throw new Rejected(Status.Code.UNAVAILABLE,
          "the TokenReview of the bearer token failed: " + e.getMessage(), e);
    }
    var status = answer == null ? null : answer.getStatus();
    if (status == null || !Boolean.TRUE.equals(status.getAuthenticated())) {
      String why = status == null || status.getError() == null ? "not authenticated" : status.getError();
      throw new Rejected(Status.Code.UNAUTHENTICATED,
          "the API server did not authenticate the bearer token for audience " + AUDIENCE + ": " + why,
          null);
    }
    if (status.getAudiences() != null && !status.getAudiences().isEmpty()
        && !status.getAudiences().contains(AUDIENCE)) {
      throw new Rejected(Status.Code.UNAUTHENTICATED,
          "the bearer token is for " + status.getAudiences() + ", not audience " + AUDIENCE, null);
    }
    UserInfo user = status.getUser();
    String username = user == null || user.getUsername() == null ? "" : user.getUsername();
    if (!username.startsWith(SA_PREFIX) || username.split(":").length != 4) {
      throw new Rejected(Status.Code.UNAUTHENTICATED, "the bearer token belongs to '" + username
          + "', not a service account (expected system:serviceaccount:NS:SA)", null);
    }
    String[] parts = username.split(":");
    String namespace = parts[2];
    String account = parts[3];
    Map<String, List<String>> extra = user.getExtra() == null ? Map.of() : user.getExtra();
    String node = first(extra, NODE_NAME_EXTRA);
    String pod = first(extra, POD_NAME_EXTRA);
    if (node.isEmpty() && !pod.isEmpty()) {
      node = nodeOfPod(namespace, pod);
    }
    Caller c = new Caller(username + (node.isEmpty() ? "" : " on node " + node), node,
        "spiffe://" + trustDomain.get() + "/ns/" + namespace + "/sa/" + account,
        nodeAgents.contains(namespace + "/" + account));
    log.debug("reviewed a token of {}", c.principal());
    return c;
  }

  private String nodeOfPod(String namespace, String pod) throws Rejected {
    try {
      Pod p = client.pods().inNamespace(namespace).withName(pod).get();
      return p == null || p.getSpec() == null || p.getSpec().getNodeName() == null
          ? "" : p.getSpec().getNodeName();
    } catch (KubernetesClientException e) {
      throw new Rejected(Status.Code.UNAVAILABLE,
          "cannot read pod " + namespace + "/" + pod + " to find its node: " + e.getMessage(), e);
    }
  }

  private static String first(Map<String, List<String>> extra, String key) {
    List<String> v = extra.get(key);
    return v == null || v.isEmpty() || v.get(0) == null ? "" : v.get(0);
  }

  private static String sha256(String token) {
    try {
      return HexFormat.of().formatHex(
          MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
