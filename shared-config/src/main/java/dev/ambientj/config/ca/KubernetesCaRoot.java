package dev.ambientj.config.ca;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.io.IOException;
import java.net.HttpURLConnection;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The CA root of a config server in a cluster: kept in the Secret {@value #SECRET} of its
 * namespace, so that a restarted (or rescheduled) server signs with the same root, and published,
 * certificate only, in the ConfigMap {@value #CONFIG_MAP} (key {@value #ROOT_CERT_KEY}) that proxy
 * pods mount to verify the server (Istio's {@code istio-ca-root-cert}).
 *
 * <p><b>First start.</b> The Secret is read; when it is absent the state directory's root (created
 * there if needed) is offered with a create, which the API server accepts only if no Secret of that
 * name exists. When two servers race, one create fails with 409 Conflict; that server re-reads the
 * Secret and takes the winner's root, so the cluster never ends with two roots. The Secret's root is
 * then written into the state directory ({@code root-key.pem}, {@code root-cert.pem}, {@code
 * roots.pem}), which {@link CaStateDirectory#open} loads as in file mode.
 *
 * <p>Root rotation is not automated here: replace the Secret and restart the server.
 */
public final class KubernetesCaRoot {
  private static final Logger log = LoggerFactory.getLogger(KubernetesCaRoot.class);

  public static final String SECRET = "ambientj-ca-root";
  public static final String CONFIG_MAP = "ambientj-ca-root-cert";
  /** The ConfigMap key (Istio's {@code istio-ca-root-cert} uses the same). */
  public static final String ROOT_CERT_KEY = "root-cert.pem";
  static final String ROOT_KEY_KEY = "root-key.pem";
  static final String MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";

  /** What {@link #open} needs in the config server's own namespace (a Role may grant it). */
  public static final List<ApiPermission> OWN_NAMESPACE_PERMISSIONS =
      List.of(new ApiPermission("", "secrets", Set.of("get", "create")));

  /** What {@link #publish} needs in every namespace it publishes to. */
  public static final List<ApiPermission> PERMISSIONS =
      List.of(new ApiPermission("", "configmaps", Set.of("get", "create", "update")));

  private KubernetesCaRoot() {}

  /**
   * Opens {@code stateDir} with the root the Secret {@value #SECRET} in {@code namespace} holds,
   * creating the Secret from the directory's root when there is none.
   *
   * @throws IOException when the API server refuses or the Secret does not hold a usable root
   */
  public static CaStateDirectory open(KubernetesClient client, String namespace, Path stateDir,
      String trustDomain) throws IOException {
    Secret stored = read(client, namespace);
    if (stored != null) {
      restore(stored, namespace, stateDir);
      CaStateDirectory state = CaStateDirectory.open(stateDir, trustDomain);
      log.info("CA root from Secret {}/{}", namespace, SECRET);
      return state;
    }
    CaStateDirectory state = CaStateDirectory.open(stateDir, trustDomain);
    CaRoot root = state.roots().signer();
    Secret mine = new SecretBuilder()
        .withNewMetadata().withName(SECRET).withNamespace(namespace)
        .addToLabels(MANAGED_BY_LABEL, "ambientj").endMetadata()
        .withType("Opaque")
        .addToData(ROOT_KEY_KEY, base64(CaPem.privateKey(root.privateKey())))
        .addToData(ROOT_CERT_KEY, base64(root.certificatePem()))
        .build();
    try {
      client.secrets().inNamespace(namespace).resource(mine).create();
      log.info("stored the CA root in Secret {}/{}", namespace, SECRET);
      return state;
    } catch (KubernetesClientException e) {
      if (e.getCode() != HttpURLConnection.HTTP_CONFLICT) {
        throw new IOException("cannot create Secret " + namespace + "/" + SECRET
            + " (the CA root; RBAC: create secrets in " + namespace + "): " + e.getMessage(), e);
      }
    }
    // Another server stored its root first: take that one.
    Secret winner = read(client, namespace);
    if (winner == null) {
      throw new IOException("Secret " + namespace + "/" + SECRET
          + " conflicted on create but cannot be read back; restart to try again");
    }
    log.info("another config server stored the CA root first; using Secret {}/{}", namespace, SECRET);
    restore(winner, namespace, stateDir);
    return CaStateDirectory.open(stateDir, trustDomain);
  }

  private static Secret read(KubernetesClient client, String namespace) throws IOException {
    try {
      return client.secrets().inNamespace(namespace).withName(SECRET).get();
    } catch (KubernetesClientException e) {
      throw new IOException("cannot read Secret " + namespace + "/" + SECRET
          + " (the CA root; RBAC: get secrets in " + namespace + "): " + e.getMessage(), e);
    }
  }

  /** Writes the Secret's root over the state directory's. */
  private static void restore(Secret s, String namespace, Path stateDir) throws IOException {
    String key = field(s, ROOT_KEY_KEY);
    String cert = field(s, ROOT_CERT_KEY);
    String where = "Secret " + namespace + "/" + SECRET;
    if (key == null || cert == null) {
      throw new IOException(where + " lacks " + (key == null ? ROOT_KEY_KEY : ROOT_CERT_KEY)
          + " (expected both " + ROOT_KEY_KEY + " and " + ROOT_CERT_KEY
          + "); delete it to have a new root created");
    }
    try {
      CaPem.parsePrivateKey(key);
      if (CaPem.parseCertificates(cert).isEmpty()) {
        throw new IllegalArgumentException("no PEM certificate");
      }
    } catch (IllegalArgumentException e) {
      throw new IOException(where + " does not hold a PEM root: " + e.getMessage(), e);
    }
    Path d = stateDir.toAbsolutePath().normalize();
    CaStateDirectory.createPrivateDirectory(d);
    CaStateDirectory.writeFile(d.resolve(CaStateDirectory.ROOT_KEY), key,
        CaStateDirectory.OWNER_ONLY_FILE);
    CaStateDirectory.writeFile(d.resolve(CaStateDirectory.ROOT_CERT), cert,
        java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
    // The Secret is the truth: a root this directory made before losing a race must not stay
    // trusted.
    CaStateDirectory.writeFile(d.resolve(CaStateDirectory.TRUST_BUNDLE), cert,
        java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
  }

  private static String field(Secret s, String name) {
    if (s.getData() != null && s.getData().get(name) != null) {
      return new String(Base64.getDecoder().decode(s.getData().get(name)), StandardCharsets.US_ASCII);
    }
    return s.getStringData() == null ? null : s.getStringData().get(name);
  }

  private static String base64(String s) {
    return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.US_ASCII));
  }

  /**
   * Makes the ConfigMap {@value #CONFIG_MAP} in {@code namespace} hold {@code rootCertPem} (the
   * trust bundle) and, when {@code owner} is given, list it among its owners (the waypoint
   * controller owns the copies in the Gateways' namespaces by their Gateways, so the last Gateway's
   * deletion removes it).
   *
   * @throws KubernetesClientException when the API server refuses; a conflict is retried once
   */
  public static ConfigMap publish(KubernetesClient client, String namespace, String rootCertPem,
      OwnerReference owner) {
    Objects.requireNonNull(rootCertPem, "rootCertPem");
    for (int attempt = 0; ; attempt++) {
      try {
        return publishOnce(client, namespace, rootCertPem, owner);
      } catch (KubernetesClientException e) {
        if (e.getCode() != HttpURLConnection.HTTP_CONFLICT || attempt > 0) {
          throw e;
        }
      }
    }
  }

  private static ConfigMap publishOnce(KubernetesClient client, String namespace,
      String rootCertPem, OwnerReference owner) {
    var resource = client.configMaps().inNamespace(namespace).withName(CONFIG_MAP);
    ConfigMap have = resource.get();
    if (have == null) {
      ConfigMapBuilder b = new ConfigMapBuilder()
          .withNewMetadata().withName(CONFIG_MAP).withNamespace(namespace)
          .addToLabels(MANAGED_BY_LABEL, "ambientj").endMetadata()
          .addToData(ROOT_CERT_KEY, rootCertPem);
      if (owner != null) {
        b.editMetadata().withOwnerReferences(owner).endMetadata();
      }
      ConfigMap created = client.configMaps().inNamespace(namespace).resource(b.build()).create();
      log.info("published the CA root in ConfigMap {}/{}", namespace, CONFIG_MAP);
      return created;
    }
    Map<String, String> data = have.getData() == null ? new LinkedHashMap<>() : new LinkedHashMap<>(have.getData());
    List<OwnerReference> owners = have.getMetadata().getOwnerReferences() == null
        ? new ArrayList<>() : new ArrayList<>(have.getMetadata().getOwnerReferences());
    boolean sameData = rootCertPem.equals(data.get(ROOT_CERT_KEY));
    boolean owned = owner == null || owners.stream().anyMatch(o -> Objects.equals(o.getUid(), owner.getUid()));
    if (sameData && owned) {
      return have;
    }
    data.put(ROOT_CERT_KEY, rootCertPem);
    have.setData(data);
    if (!owned) {
      owners.add(owner);
      have.getMetadata().setOwnerReferences(owners);
    }
    return client.configMaps().inNamespace(namespace).resource(have).update();
  }
}
